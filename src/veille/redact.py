"""Mask credentials in URLs (``rtsp://user:secret@cam/...``) before they reach logs, screens or reports."""

from __future__ import annotations

import logging
import re

MASK = "***"
# scheme://userinfo@host — userinfo may hold ':' and percent-escapes but no '/', '@' or whitespace.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<userinfo>[^/@\s]+)@")
# ?password=…, &token=…, &apikey=… in query strings
_SECRET_PARAM = re.compile(
    r"(?P<key>[?&;](?:pass(?:word)?|pwd|token|access_token|api[_-]?key|key|secret|auth)=)(?P<value>[^&#\s]+)",
    re.IGNORECASE,
)


def mask_credentials(text: str) -> str:
    """``text`` with the user and password of every URL, and secret query values, replaced by ``***``."""
    if "://" not in text and "=" not in text:
        return text
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    return _SECRET_PARAM.sub(lambda m: f"{m['key']}{MASK}", text)


class CredentialFilter(logging.Filter):
    """A logging filter that masks credentials in every record's message (install on a handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with credentials masked; never drops a record."""
        message = record.getMessage()
        masked = mask_credentials(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_installed = False


def install_log_masking() -> None:
    """Mask credentials in every log record created from now on, whatever logger or handler emits it."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()
    masker = CredentialFilter()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        masker.filter(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True

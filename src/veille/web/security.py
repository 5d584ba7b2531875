"""Who may use the server: the token off loopback, the page secret for every write, the host name.

- Bound to loopback, no token is asked; the ``Host`` header must then name the loopback (a web page
  elsewhere cannot reach the server through a name of its own that resolves to 127.0.0.1).
- Bound elsewhere, every request carries the token: the ``X-Veille-Token`` header, ``Authorization:
  Bearer``, or the cookie set when a browser first opens ``…?token=T``.
- Every write (a review mark) also carries the page secret the server put in its forms, so another
  site the browser visits cannot post marks in the operator's name.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

COOKIE = "veille_token"
HEADER = "x-veille-token"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address to bind) is the loopback."""
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_secret() -> str:
    """A random token (or page secret)."""
    return secrets.token_urlsafe(24)


def same(given: str | None, expected: str) -> bool:
    """Whether ``given`` is ``expected`` (compared in constant time)."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Guard:
    """ASGI middleware: the token (when set) on every request, and a loopback ``Host`` (when ``loopback``)."""

    def __init__(self, app: ASGIApp, *, token: str | None, loopback_hosts: bool, message: str) -> None:
        """``message``: the one line a refused request gets."""
        self.app = app
        self.token = token
        self.loopback_hosts = loopback_hosts
        self.message = message

    async def __call__(
        self, scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.loopback_hosts and _host_name(headers.get("host", "")).lower() not in LOOPBACK_NAMES:
            await _refuse(send, 403, "this server answers only to localhost / 127.0.0.1")
            return
        if self.token is None or self._carries_token(headers):
            await self.app(scope, receive, send)
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = next((v for k, v in query if k == "token"), None)
        if scope.get("method") == "GET" and same(given, self.token):
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            location = scope.get("path", "/") + (f"?{rest}" if rest else "")
            cookie = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
            await _send(send, 303, b"", [(b"location", location.encode()), (b"set-cookie", cookie.encode())])
            return
        await _refuse(send, 401, self.message)

    def _carries_token(self, headers: dict[str, str]) -> bool:
        assert self.token is not None
        bearer = headers.get("authorization", "")
        if same(headers.get(HEADER), self.token) or same(bearer.removeprefix("Bearer ").strip(), self.token):
            return True
        cookies: SimpleCookie = SimpleCookie()
        try:
            cookies.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header carries no token
            return False
        morsel = cookies.get(COOKIE)
        return morsel is not None and same(morsel.value, self.token)


async def _send(send: Callable[[Any], Awaitable[None]], status: int, body: bytes, headers: list) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _refuse(send: Callable[[Any], Awaitable[None]], status: int, line: str) -> None:
    body = (line + "\n").encode()
    await _send(send, status, body, [(b"content-type", b"text/plain; charset=utf-8"),
                                     (b"content-length", str(len(body)).encode())])  # fmt: skip

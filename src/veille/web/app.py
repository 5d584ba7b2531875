"""The ``veille serve`` application: Starlette routes, Jinja2 templates (autoescaped), local assets only.

:func:`create_app` takes an open :class:`~veille.web.archive.WebArchive`; while the app runs, a
thread reads the index into memory for the search, then brings the index up to date with the report
folders every ``refresh_s`` seconds (what the analysis writes into the same folder appears; the pages
learn it through ``/live``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from veille.i18n import clock, count, threat_label
from veille.web.archive import WebArchive
from veille.web.labels import web_labels
from veille.web.routes import ROUTES
from veille.web.security import Guard, new_secret

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
CSP = (
    "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self' 'unsafe-inline';"
    " script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def templates(lang: str) -> jinja2.Environment:
    """The pages' templates; everything they print is HTML-escaped unless marked safe (nothing is)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)  # fmt: skip
    env.filters["q"] = lambda value: quote(str(value), safe="")
    env.filters["clock"] = clock
    env.filters["threat"] = lambda level: threat_label(int(level), lang) if level is not None else "—"
    env.filters["mmss"] = lambda s: clock(float(s))
    env.filters["events"] = lambda n: count(int(n), "event", lang)
    return env


def _poll(archive: WebArchive, stopping: threading.Event, every_s: float) -> None:
    try:
        archive.videos()  # the home page's counts, and the index in memory now, not at the first search
        archive.searcher()
    except Exception:  # the first search says what is wrong
        log.warning("the search could not be prepared", exc_info=True)
    while not stopping.wait(every_s):
        try:
            archive.refresh()
        except Exception:  # the next round tries again; the pages keep what they have
            log.warning("the archive could not be brought up to date", exc_info=True)


def create_app(
    archive: WebArchive,
    *,
    lang: str = "en",
    token: str | None = None,
    loopback_hosts: bool = False,
    refresh_s: float | None = 2.0,
) -> Starlette:
    """The web app over ``archive``.

    Args:
        token: asked of every request when set (the server is bound off loopback).
        loopback_hosts: refuse requests whose ``Host`` is not a loopback name (bound to loopback).
        refresh_s: seconds between two up-to-date checks of the index (None: none).
    """
    stopping = threading.Event()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        thread = None
        if refresh_s:
            thread = threading.Thread(target=_poll, args=(archive, stopping, refresh_s), daemon=True, name="refresh")
            thread.start()
        try:
            yield
        finally:
            stopping.set()
            if thread is not None:
                thread.join(timeout=10)

    routes = [*ROUTES, Mount("/static", StaticFiles(directory=HERE / "static"), name="static")]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: _http_error, Exception: _server_error})  # fmt: skip
    labels = web_labels(lang)
    app.state.archive, app.state.lang, app.state.labels, app.state.stopping = archive, lang, labels, stopping
    app.state.templates, app.state.csrf = templates(lang), new_secret()
    for name in app.state.templates.list_templates():  # compiled now, not by the first request of each page
        app.state.templates.get_template(name)
    app.add_middleware(Guard, token=token, loopback_hosts=loopback_hosts, message=labels["forbidden"])
    app.add_middleware(_Headers)
    return app


class _Headers:
    """Security headers on every response: no sniffing, no framing, scripts and media from this server only."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-content-type-options", b"nosniff"),
                                      (b"referrer-policy", b"no-referrer"),
                                      (b"content-security-policy", CSP.encode())]  # fmt: skip
            await send(message)

        await self.app(scope, receive, with_headers)


def _page(request: Request, status: int, line: str) -> Response:
    state = request.app.state
    try:
        body = state.templates.get_template("error.html").render(L=state.labels, lang=state.lang, csrf="", line=line,
                                                                 q="", status=status)  # fmt: skip
    except Exception:  # the error page itself failed: one plain line
        return HTMLResponse(f"<p>{status}</p>", status_code=status)
    return HTMLResponse(body, status_code=status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    labels = request.app.state.labels
    line = labels["not_found"] if exc.status_code == 404 else str(exc.detail)
    return _page(request, exc.status_code, line)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("error serving %s", request.url.path, exc_info=exc)
    return _page(request, 500, request.app.state.labels["error"])

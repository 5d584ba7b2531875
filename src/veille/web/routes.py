"""The pages and files of ``veille serve``: each handler reads through the app's :class:`WebArchive`.

Path parameters are names to look up in the index (a report folder, an event number, a keyframe's
position), never paths: a name the index does not hold is a 404, whatever it contains.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from veille.errors import UsageError
from veille.web import timeline
from veille.web.archive import PAGE_SIZE, WebArchive
from veille.web.details import keyframes
from veille.web.security import same

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: Seconds between two looks at the archive's generation for the live updates, and between keep-alives.
LIVE_POLL_S = 1.0
LIVE_KEEPALIVE_S = 15.0


def _archive(request: Request) -> WebArchive:
    return request.app.state.archive


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The template ``name`` filled with ``context`` and what every page knows (labels, page secret)."""
    state = request.app.state
    page = state.templates.get_template(name).render(L=state.labels, lang=state.lang, csrf=state.csrf, **context)
    return HTMLResponse(page, status_code=status_code)


def _bad(request: Request, why: str) -> HTTPException:
    return HTTPException(400, request.app.state.labels["bad_request"].format(why=why))


def _threat(request: Request, value: str | None) -> int | None:
    if not value:
        return None
    if value not in ("0", "1", "2"):
        raise _bad(request, "threat is 0, 1 or 2")
    return int(value)


def _int(request: Request, value: str | None, what: str, default: int) -> int:
    if not value:
        return default
    if not value.isdigit() or len(value) > 9:
        raise _bad(request, f"{what} is a whole number")
    return int(value)


def home(request: Request) -> Response:
    """The videos, newest first, filtered by camera, date and lowest threat."""
    params = request.query_params
    camera, day = params.get("camera") or None, params.get("date") or ""
    threat = _threat(request, params.get("threat"))
    if day and not _DATE.match(day):
        raise _bad(request, "date is YYYY-MM-DD")
    page = _int(request, params.get("page"), "page", 1)
    archive = _archive(request)
    videos = archive.videos()
    cameras = sorted({v.camera for v in videos if v.camera})
    shown = [v for v in videos if (camera is None or v.camera == camera) and (not day or v.day == day)
             and (threat is None or (v.threat is not None and v.threat >= threat))]  # fmt: skip
    start = (max(page, 1) - 1) * PAGE_SIZE
    more = len(shown) > start + PAGE_SIZE
    context: dict[str, Any] = {"videos": shown[start : start + PAGE_SIZE], "total": len(shown), "page": page,
               "more": more, "marks": archive.review_counts(), "cameras": cameras, "camera": camera, "day": day,
               "threat": threat}  # fmt: skip
    return render(request, "_videos.html" if params.get("partial") else "home.html", **context)


def video_page(request: Request) -> Response:
    """One video: its player, timeline and events."""
    archive = _archive(request)
    video = archive.video(request.path_params["folder"])
    if video is None:
        raise HTTPException(404)
    events = archive.events_of(video)
    details = archive.details(video.folder)
    line = timeline.build(video.duration_s, events, details.segments, details.curve, details.threshold)
    source = archive.video_file(video.folder)
    return render(request, "video.html", video=video, events=events, details=details, timeline=line,
                  has_video=source is not None, mime=_mime(source), thumbs=_thumbs(details))  # fmt: skip


def _mime(path: Any) -> str:
    return (mimetypes.guess_type(str(path))[0] or "video/mp4") if path is not None else ""


def _thumbs(details: Any) -> dict[int, bool]:
    return {number: bool(raw.get("keyframes")) for number, raw in details.events.items()}


def event_page(request: Request) -> Response:
    """One event: keyframes with boxes, clip, description, judge, anomaly, models, review."""
    archive = _archive(request)
    found = archive.event(request.path_params["folder"], request.path_params["number"])
    if found is None:
        raise HTTPException(404)
    video, event = found
    events = archive.events_of(video)
    at = next(i for i, e in enumerate(events) if e["number"] == event["number"])
    details = archive.details(video.folder)
    raw = details.events.get(event["number"], {})
    source = archive.video_file(video.folder)
    context: dict[str, Any] = {"video": video, "event": event, "frames": keyframes(raw), "details": details,
               "reason": raw.get("anomaly_reason"), "has_clip": archive.clip_file(video.folder, event["number"]),
               "has_video": source is not None, "mime": _mime(source),
               "previous": events[at - 1] if at > 0 else None,
               "next": events[at + 1] if at + 1 < len(events) else None}  # fmt: skip
    return render(request, "event.html", **context)


async def review(request: Request) -> Response:
    """Set (or clear) an event's review mark; the form's page secret is required."""
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    if not same(form.get("csrf") or request.headers.get("x-veille-csrf"), request.app.state.csrf):
        raise HTTPException(403, request.app.state.labels["forbidden"])
    folder, number = request.path_params["folder"], request.path_params["number"]
    archive = _archive(request)
    if archive.event(folder, number) is None:
        raise HTTPException(404)
    try:
        mark = await asyncio.to_thread(archive.set_mark, folder, number, form.get("mark", ""), form.get("note", ""))
    except UsageError as exc:
        raise _bad(request, str(exc)) from None
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(mark.as_json() if mark else {"folder": folder, "number": number, "mark": None})
    return RedirectResponse(request.url_for("event", folder=folder, number=number).path, status_code=303)


def search_page(request: Request) -> Response:
    """The archive's hybrid search, with thumbnails and review marks."""
    params = request.query_params
    text = (params.get("q") or "").strip()
    camera, threat = params.get("camera") or None, _threat(request, params.get("threat"))
    archive = _archive(request)
    hits = archive.search(text, camera=camera, threat=threat) if text else []
    cameras = sorted({v.camera for v in archive.videos() if v.camera})
    return render(request, "search.html", q=text, hits=hits, marks=archive.marks_of_hits(hits), cameras=cameras,
                  camera=camera, threat=threat)  # fmt: skip


def ask_page(request: Request) -> Response:
    """An answer from the events found, its citations linked to their events."""
    text = (request.query_params.get("q") or "").strip()
    archive = _archive(request)
    result = archive.ask(text) if text else None
    marks = archive.marks_of_hits(result.hits) if result else {}
    return render(request, "ask.html", q=text, result=result, marks=marks)


def _file(path: Any) -> Response:
    if path is None:
        raise HTTPException(404)
    return FileResponse(path, headers={"cache-control": "private, max-age=300"})


def video_file(request: Request) -> Response:
    """The analysed video (byte ranges served, so the browser can seek)."""
    return _file(_archive(request).video_file(request.path_params["folder"]))


def frame_file(request: Request) -> Response:
    """A keyframe image of an event."""
    p = request.path_params
    return _file(_archive(request).frame_file(p["folder"], p["number"], p["k"]))


def clip_file(request: Request) -> Response:
    """The clip of an event."""
    p = request.path_params
    return _file(_archive(request).clip_file(p["folder"], p["number"]))


async def live(request: Request) -> Response:
    """Server-sent events: ``archive`` (with the index's generation) whenever the index changed."""
    archive, stopping = _archive(request), request.app.state.stopping

    async def stream() -> Any:
        last = archive.generation
        yield f"retry: 2000\nevent: hello\ndata: {last}\n\n"
        quiet = 0.0
        while not stopping.is_set():
            await asyncio.sleep(LIVE_POLL_S)
            quiet += LIVE_POLL_S
            if archive.generation != last:
                last, quiet = archive.generation, 0.0
                yield f"event: archive\ndata: {last}\n\n"
            elif quiet >= LIVE_KEEPALIVE_S:
                quiet = 0.0
                yield ": still here\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"cache-control": "no-store"})


ROUTES = [
    Route("/", home, name="home"),
    Route("/video/{folder}", video_page, name="video"),
    Route("/video/{folder}/event/{number:int}", event_page, name="event"),
    Route("/video/{folder}/event/{number:int}/review", review, methods=["POST"], name="review"),
    Route("/search", search_page, name="search"),
    Route("/ask", ask_page, name="ask"),
    Route("/media/{folder}/video", video_file, name="video_file"),
    Route("/media/{folder}/event/{number:int}/frame/{k:int}", frame_file, name="frame_file"),
    Route("/media/{folder}/event/{number:int}/clip", clip_file, name="clip_file"),
    Route("/live", live, name="live"),
]

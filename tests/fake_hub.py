"""A fake Hugging Face Hub on loopback, for tests.

`FakeHub` serves model repos from local directories so that the real
`huggingface_hub` client (and `transformers.from_pretrained`) can download
from it.  Point the client at it with ``HF_ENDPOINT=hub.url``.  The hub
reads ``HF_ENDPOINT``/``HF_HUB_OFFLINE`` at import time, so run the client in
a subprocess: ``run_client(code, hub.client_env(tmp_path))`` (the faithful
option).  In-process, `patch_endpoint(monkeypatch, hub.url)` patches
``constants.ENDPOINT``, ``constants.HUGGINGFACE_CO_URL_TEMPLATE`` and the
module-level ``hf_api.api.endpoint``; pass ``cache_dir=`` explicitly then.

Example::

    with FakeHub({"org/tiny": model_dir}) as hub:
        hub.cut_first_transfer("*.safetensors")
        res = run_client("emit(snapshot_download('org/tiny'))", hub.client_env(tmp))
        assert res.ok and any(r.range for r in hub.requests)

Fault rules match a *target* with `fnmatch`: the file path inside the repo for
``/resolve`` and LFS-blob requests, the URL path (``/api/models/...``) for API
calls.  Each distinct target (per repo) matching a rule is hit ``times`` times.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import random
import re
import socket
import struct
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, quote, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".onnx", ".gguf", ".h5", ".msgpack")
LFS_MIN_SIZE = 10 * 1024 * 1024  # larger files are LFS whatever their suffix
_CHUNK = 1024 * 1024
_FAKE_DATE = "2024-01-01T00:00:00.000Z"


class LoggedRequest(NamedTuple):
    """One request seen by the server; ``headers`` keys are lower-case."""

    method: str
    path: str
    headers: dict[str, str]

    @property
    def range(self) -> str | None:
        """The ``Range`` header, if any."""
        return self.headers.get("range")


@dataclass(frozen=True)
class RepoEntry:
    """A served file: git blob oid (ETag) and, for LFS files, the sha256."""

    path: str
    local: Path
    size: int
    oid: str
    sha256: str | None


@dataclass(frozen=True)
class Repo:
    """An indexed repo: files by path and a deterministic commit sha."""

    repo_id: str
    files: dict[str, RepoEntry]
    sha: str


@dataclass
class _Fault:
    kind: str  # "cut" | "fail" | "stall"
    pattern: str
    times: int
    methods: frozenset[str]
    value: float | None = None  # cut: bytes sent; fail: status; stall: seconds
    rst: bool = False
    hits: dict[str, int] = field(default_factory=dict)


def _git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def _index_file(root: Path, local: Path) -> RepoEntry:
    size = local.stat().st_size
    path = local.relative_to(root).as_posix()
    if not (path.endswith(LFS_SUFFIXES) or size >= LFS_MIN_SIZE):
        return RepoEntry(path, local, size, _git_oid(local.read_bytes()), None)
    digest = hashlib.sha256()
    with local.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    sha256 = digest.hexdigest()
    return RepoEntry(path, local, size, _git_oid(_pointer(sha256, size)), sha256)


def index_repo(repo_id: str, root: Path) -> Repo:
    """Index every regular file under ``root`` (hidden entries skipped)."""
    locals_ = [
        p
        for p in sorted(root.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    files = {e.path: e for e in (_index_file(root, p) for p in locals_)}
    listing = json.dumps([repo_id] + [[e.path, e.oid] for e in files.values()])
    return Repo(repo_id, files, hashlib.sha1(listing.encode()).hexdigest())


class FakeHub:
    """Threaded HTTP server on 127.0.0.1 speaking enough of the Hub API."""

    def __init__(self, repos: Mapping[str, Path] | None = None, gated: Iterable[str] = ()) -> None:
        """Serve ``repos`` (repo id -> directory); ids in ``gated`` answer 401 GatedRepo on files."""
        self.gated: set[str] = set(gated)
        self._repos: dict[str, Repo] = {}
        self._roots: dict[str, Path] = {}
        self._faults: list[_Fault] = []
        self._log: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        for repo_id, root in (repos or {}).items():
            self.add_repo(repo_id, root)

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> FakeHub:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        httpd.daemon_threads = True
        httpd.hub = self  # type: ignore[attr-defined]
        self._stopping.clear()
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections and wake stalled handlers."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            _close_quietly(conn)
        self._httpd.server_close()
        assert self._thread is not None
        self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (server must be started)."""
        assert self._httpd is not None, "FakeHub not started"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Endpoint for ``HF_ENDPOINT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def alt_url(self) -> str:
        """Same server under another host name; LFS redirects point here."""
        return f"http://localhost:{self.port}"

    # -- repos -------------------------------------------------------------
    def add_repo(self, repo_id: str, path: Path) -> Repo:
        """Serve (or re-index after changes) the directory ``path`` as ``repo_id``."""
        repo = index_repo(repo_id, Path(path))
        with self._lock:
            self._roots[repo_id], self._repos[repo_id] = Path(path), repo
        return repo

    def add_random_file(
        self, repo_id: str, name: str = "big.safetensors", size: int = 24 * 1024 * 1024, seed: int = 0
    ) -> Path:
        """Write ``size`` pseudo-random bytes as ``name`` into a served repo; re-index it."""
        target = self._roots[repo_id] / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(random.Random(seed).randbytes(size))
        self.add_repo(repo_id, self._roots[repo_id])
        return target

    def repo(self, repo_id: str) -> Repo | None:
        """The indexed repo, or None."""
        with self._lock:
            return self._repos.get(repo_id)

    def commit_sha(self, repo_id: str) -> str:
        """Deterministic 40-hex commit sha of a served repo."""
        repo = self.repo(repo_id)
        assert repo is not None, repo_id
        return repo.sha

    # -- faults ------------------------------------------------------------
    def cut_first_transfer(self, pattern: str, nbytes: int | None = None, times: int = 1, rst: bool = False) -> None:
        """First ``times`` body GETs per matching file send ``nbytes`` (default half) then close.

        ``rst=False`` closes cleanly (FIN: client sees RemoteProtocolError);
        ``rst=True`` resets the socket (client sees ReadError).
        """
        self._add_fault(_Fault("cut", pattern, times, frozenset({"GET"}), nbytes, rst))

    def fail_then_ok(
        self, pattern: str, status: int = 500, times: int = 1, methods: Iterable[str] = ("GET", "HEAD")
    ) -> None:
        """Answer ``status`` to the first ``times`` matching requests per target."""
        self._add_fault(_Fault("fail", pattern, times, frozenset(methods), status))

    def stall(self, pattern: str, seconds: float, times: int = 1, methods: Iterable[str] = ("GET", "HEAD")) -> None:
        """Sleep ``seconds`` (interrupted by `stop`) before answering matching requests."""
        self._add_fault(_Fault("stall", pattern, times, frozenset(methods), seconds))

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        with self._lock:
            self._faults.clear()

    def _add_fault(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, kind: str, target: str, method: str, repo_id: str = "") -> _Fault | None:
        key = f"{repo_id}:{target}"  # counted per repo: every repo's model.safetensors gets its own cut
        with self._lock:
            for fault in self._faults:
                hits = fault.hits.get(key, 0)
                if (
                    fault.kind == kind
                    and method in fault.methods
                    and hits < fault.times
                    and fnmatch.fnmatchcase(target, fault.pattern)
                ):
                    fault.hits[key] = hits + 1
                    return fault
        return None

    # -- request log -------------------------------------------------------
    @property
    def requests(self) -> list[LoggedRequest]:
        """Copy of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        """Forget logged requests."""
        with self._lock:
            self._log.clear()

    def requested_files(self, method: str = "GET") -> list[str]:
        """Repo file paths requested with ``method`` via /resolve or the LFS blob URL, in order."""
        files = [_file_of(req.path) for req in self.requests if req.method == method]
        return [f for f in files if f is not None]

    def _record(self, req: LoggedRequest) -> None:
        with self._lock:
            self._log.append(req)

    # -- client side -------------------------------------------------------
    def client_env(self, hf_home: Path, offline: bool = False, **extra: str) -> dict[str, str]:
        """Environment for a client subprocess: this endpoint, a private cache, no proxies/token."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.upper().startswith(
                ("HF_", "HUGGINGFACE_", "HUGGING_FACE_", "TRANSFORMERS_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
            )
        }
        env.update(
            HF_ENDPOINT=self.url,
            HF_HOME=str(hf_home),
            HF_HUB_CACHE=str(Path(hf_home) / "hub"),
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_XET="1",
            HF_HUB_DISABLE_PROGRESS_BARS="1",
            HF_HUB_DISABLE_IMPLICIT_TOKEN="1",
            HF_HUB_DISABLE_UPDATE_CHECK="1",
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
        )
        if offline:
            env["HF_HUB_OFFLINE"] = "1"
        env.update(extra)
        return env


def patch_endpoint(monkeypatch: Any, url: str, offline: bool = False) -> None:
    """In-process alternative to ``HF_ENDPOINT``/``HF_HUB_OFFLINE`` for an imported huggingface_hub.

    ``monkeypatch`` is pytest's fixture (anything with ``setattr(obj, name, value)``).
    """
    from huggingface_hub import constants, hf_api

    template = url + "/{repo_id}/resolve/{revision}/{filename}"
    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    monkeypatch.setattr(hf_api.api, "endpoint", url)  # module-level HfApi behind model_info() & co.


def _close_quietly(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)


def _parse_range(value: str, size: int) -> tuple[int, int] | None:
    """Parse a single ``bytes=a-b`` range; None if malformed or unsatisfiable."""
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", value)
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        start, end = max(size - int(last), 0), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    return (start, end) if start <= end and start < size else None


def _lfs_json(entry: RepoEntry, oid_key: str) -> dict[str, Any]:
    assert entry.sha256 is not None
    return {oid_key: entry.sha256, "size": entry.size, "pointerSize": len(_pointer(entry.sha256, entry.size))}


def _file_json(entry: RepoEntry) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "file", "oid": entry.oid, "size": entry.size, "path": entry.path}
    if entry.sha256 is not None:
        out["lfs"] = _lfs_json(entry, "oid")
    return out


def _sibling_json(entry: RepoEntry) -> dict[str, Any]:
    out: dict[str, Any] = {"rfilename": entry.path, "size": entry.size, "blobId": entry.oid}
    if entry.sha256 is not None:
        out["lfs"] = _lfs_json(entry, "sha256")
    return out


def _file_of(raw_path: str) -> str | None:
    """Repo file path addressed by a raw request path, else None."""
    return _fault_target([unquote(s) for s in urlsplit(raw_path).path.split("/")[1:]])


def _fault_target(segs: list[str]) -> str | None:
    """Repo file path addressed by a /resolve or /_lfs URL, else None."""
    if segs[:1] == ["_lfs"]:
        return "/".join(segs[3:])
    if "resolve" in segs:
        return "/".join(segs[segs.index("resolve") + 2 :])
    return None


def _repo_of(segs: list[str]) -> str:
    """Repo id addressed by a /resolve or /_lfs URL, else ''."""
    if segs[:1] == ["_lfs"] and len(segs) > 1:
        return segs[1]
    if "resolve" in segs:
        return "/".join(segs[: segs.index("resolve")])
    return ""


class _Handler(BaseHTTPRequestHandler):
    """Routes Hub API, /resolve and LFS-blob requests of one connection."""

    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive connections end eventually
    server: Any
    _repo_id = ""

    @property
    def hub(self) -> FakeHub:
        """The owning FakeHub."""
        return self.server.hub  # type: ignore[no-any-return]

    def setup(self) -> None:
        """Track the connection so `FakeHub.stop` can cut it."""
        super().setup()
        with self.hub._lock:
            self.hub._conns.add(self.connection)

    def finish(self) -> None:
        """Untrack the connection; ignore errors on sockets we cut."""
        with self.hub._lock:
            self.hub._conns.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def handle(self) -> None:
        """Serve requests; a client that went away is not an error."""
        try:
            super().handle()
        except OSError:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request stderr logging."""

    def do_GET(self) -> None:
        """Handle GET (HEAD shares the code, bodies are skipped)."""
        hub = self.hub
        hub._record(LoggedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        split = urlsplit(self.path)
        segs = [unquote(s) for s in split.path.split("/")[1:]]
        target = _fault_target(segs) or split.path
        self._repo_id = _repo_of(segs)
        stall = hub._take_fault("stall", target, self.command, self._repo_id)
        if stall is not None and hub._stopping.wait(float(stall.value or 0)):
            self.close_connection = True
            return
        fail = hub._take_fault("fail", target, self.command, self._repo_id)
        if fail is not None:
            self._error(int(fail.value or 500), None, "Injected failure")
        elif segs[:2] == ["api", "models"]:
            self._api(segs[2:], parse_qs(split.query))
        elif segs[:1] == ["_lfs"] and len(segs) >= 4:
            self._lfs(segs[1], segs[2], "/".join(segs[3:]))
        elif "resolve" in segs and len(segs) > segs.index("resolve") + 2:
            i = segs.index("resolve")
            self._resolve("/".join(segs[:i]), segs[i + 1], "/".join(segs[i + 2 :]))
        else:
            self._error(404, None, "Not found")

    do_HEAD = do_GET

    # -- routes ------------------------------------------------------------
    def _api(self, rest: list[str], query: dict[str, list[str]]) -> None:
        repo = None
        for n in (2, 1):
            if len(rest) >= n and (repo := self.hub.repo("/".join(rest[:n]))) is not None:
                rest = rest[n:]
                break
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found")
        elif not rest:
            self._info(repo, "main")
        elif rest[0] == "revision" and len(rest) == 2:
            self._info(repo, rest[1])
        elif rest[0] == "tree" and len(rest) >= 2:
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            self._tree(repo, rest[1], "/".join(rest[2:]), recursive)
        else:
            self._error(404, None, "Not found")

    def _info(self, repo: Repo, rev: str) -> None:
        if (sha := self._commit(repo, rev)) is None:
            return
        entries = repo.files.values()
        self._json(
            {
                "_id": sha[:24],
                "id": repo.repo_id,
                "modelId": repo.repo_id,
                "author": repo.repo_id.split("/")[0],
                "sha": sha,
                "lastModified": _FAKE_DATE,
                "createdAt": _FAKE_DATE,
                "private": False,
                "gated": "manual" if repo.repo_id in self.hub.gated else False,
                "disabled": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "usedStorage": sum(e.size for e in entries),
                "siblings": [_sibling_json(e) for e in entries],
            }
        )

    def _tree(self, repo: Repo, rev: str, sub: str, recursive: bool) -> None:
        if (sha := self._commit(repo, rev)) is None:
            return
        prefix = sub.strip("/") + "/" if sub.strip("/") else ""
        if prefix and not any(p.startswith(prefix) for p in repo.files):
            self._error(404, "EntryNotFound", f"{sub} does not exist on {rev}", sha)
            return
        out, dirs = [], set()
        for entry in repo.files.values():
            if not entry.path.startswith(prefix):
                continue
            parts = entry.path[len(prefix) :].split("/")
            depth = len(parts) if recursive else min(2, len(parts))
            dirs.update(prefix + "/".join(parts[:i]) for i in range(1, depth))
            if recursive or len(parts) == 1:
                out.append(_file_json(entry))
        out += [{"type": "directory", "oid": _git_oid(d.encode()), "size": 0, "path": d} for d in dirs]
        self._json(sorted(out, key=lambda item: item["path"]))

    def _resolve(self, repo_id: str, rev: str, path: str) -> None:
        repo = self.hub.repo(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found")
            return
        if repo_id in self.hub.gated:
            self._error(
                401,
                "GatedRepo",
                f"Access to model {repo_id} is restricted. You must have access "
                "to it and be authenticated to access it. Please log in.",
            )
            return
        if (sha := self._commit(repo, rev)) is None:
            return
        entry = repo.files.get(path)
        if entry is None:
            self._error(404, "EntryNotFound", "Entry not found", sha)
            return
        headers = {"X-Repo-Commit": sha, "ETag": f'"{entry.oid}"'}
        if entry.sha256 is None:
            self._send_file(entry, headers)
            return
        headers.update(
            {
                "X-Linked-Etag": f'"{entry.sha256}"',
                "X-Linked-Size": str(entry.size),
                "Location": f"{self.hub.alt_url}/_lfs/{quote(repo_id, safe='')}/{entry.sha256}/{quote(path)}",
            }
        )
        self._send(302, b"", headers)

    def _lfs(self, repo_id: str, sha256: str, path: str) -> None:
        repo = self.hub.repo(repo_id)
        entry = repo.files.get(path) if repo is not None else None
        if entry is None or entry.sha256 != sha256:
            self._error(404, None, "Blob not found")
            return
        self._send_file(entry, {"ETag": f'"{sha256}"'})

    def _commit(self, repo: Repo, rev: str) -> str | None:
        """Resolve ``main`` or the full sha; otherwise answer RevisionNotFound."""
        if rev in ("main", repo.sha):
            return repo.sha
        self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return None

    # -- responses ---------------------------------------------------------
    def _send_file(self, entry: RepoEntry, headers: dict[str, str]) -> None:
        start, end, status = 0, entry.size - 1, 200
        if (rng := self.headers.get("Range")) is not None:
            if (parsed := _parse_range(rng, entry.size)) is None:
                self._send(416, b"", {**headers, "Content-Range": f"bytes */{entry.size}"})
                return
            (start, end), status = parsed, 206
            headers = {**headers, "Content-Range": f"bytes {start}-{end}/{entry.size}"}
        length = end - start + 1
        self._head(
            status,
            {
                **headers,
                "Accept-Ranges": "bytes",
                "Content-Type": "application/octet-stream",
                "Content-Length": str(length),
            },
        )
        if self.command == "HEAD":
            return
        cut = self.hub._take_fault("cut", entry.path, "GET", self._repo_id)
        sent = length if cut is None else min(length, length // 2 if cut.value is None else int(cut.value))
        with entry.local.open("rb") as f:
            f.seek(start)
            while sent > 0 and (chunk := f.read(min(_CHUNK, sent))):
                self.wfile.write(chunk)
                sent -= len(chunk)
        if cut is not None:
            self._abort(cut.rst)

    def _abort(self, rst: bool) -> None:
        """Drop the connection mid-body: FIN (clean EOF) or RST."""
        self.close_connection = True
        if rst:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        else:
            _close_quietly(self.connection)

    def _head(self, status: int, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()

    def _send(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self._head(status, {**headers, "Content-Length": str(len(body))})
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj: object) -> None:
        self._send(200, json.dumps(obj).encode(), {"Content-Type": "application/json"})

    def _error(self, status: int, code: str | None, message: str, commit: str | None = None) -> None:
        headers = {"Content-Type": "application/json", "X-Error-Message": message}
        if code is not None:
            headers["X-Error-Code"] = code
        if commit is not None:
            headers["X-Repo-Commit"] = commit
        self._send(status, json.dumps({"error": message}).encode(), headers)


# -- client subprocess ---------------------------------------------------------
_PRELUDE = """
import json, sys, traceback
def emit(value):
    print("@@RESULT " + json.dumps(value, default=str), flush=True)
try:
    exec(compile(sys.argv[1], "<client>", "exec"), {"emit": emit, "__name__": "__client__"})
except BaseException as exc:
    info = {"type": type(exc).__name__, "mro": [c.__name__ for c in type(exc).__mro__], "message": str(exc)}
    print("@@ERROR " + json.dumps(info), flush=True)
    traceback.print_exc()
    sys.exit(1)
"""


@dataclass
class ClientResult:
    """Outcome of `run_client`: ``value`` from the last ``emit(...)``, ``error`` if the code raised."""

    returncode: int
    stdout: str
    stderr: str
    value: Any = None
    error: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """True when the code ran to completion."""
        return self.returncode == 0 and self.error is None

    def raised(self, name: str) -> bool:
        """True if the code raised an exception whose class (or a base class) is called ``name``."""
        return self.error is not None and name in self.error["mro"]


def run_client(code: str, env: Mapping[str, str], timeout: float = 60.0) -> ClientResult:
    """Run ``code`` in a fresh interpreter with ``env``; it may call ``emit(jsonable)``."""
    proc = subprocess.run(
        [sys.executable, "-c", _PRELUDE, textwrap.dedent(code)],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    result = ClientResult(proc.returncode, proc.stdout, proc.stderr)
    for line in proc.stdout.splitlines():
        if line.startswith("@@RESULT "):
            result.value = json.loads(line[len("@@RESULT ") :])
        elif line.startswith("@@ERROR "):
            result.error = json.loads(line[len("@@ERROR ") :])
    return result

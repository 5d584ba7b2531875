"""Run ``python -m veille`` in a subprocess as a person would: plain pipes, or a terminal of a given width."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


@dataclass(frozen=True)
class Run:
    """What a run printed and how it ended (``out`` and ``err`` are the same text in a terminal)."""

    code: int
    out: str
    err: str


def cli_env(**extra: str) -> dict[str, str]:
    """This checkout's sources first, no VEILLE_* settings from outside, no colour surprises."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("NO_COLOR", None)
    env.update(extra)
    return env


def veille(*args: str, cwd: Path, umask: int | None = None, timeout: float = 300, **env: str) -> Run:
    """``veille ARGS`` with stdout and stderr on pipes (not a terminal)."""
    proc = subprocess.run(
        [sys.executable, "-m", "veille", *args],
        cwd=cwd,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def veille_tty(*args: str, cwd: Path, columns: int = 120, timeout: float = 300, **env: str) -> Run:
    """``veille ARGS`` on a pseudo-terminal ``columns`` wide; the text comes back without escape codes."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "veille", *args],
        cwd=cwd,
        env=cli_env(TERM="xterm-256color", COLUMNS=str(columns), LINES="40", **env),
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        close_fds=True,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    code = proc.wait(timeout=timeout)
    text = plain_text(b"".join(chunks).decode("utf-8", "replace"))
    return Run(code, text, text)


def plain_text(text: str) -> str:
    """Terminal output as a person reads it: escape codes removed, each line as last redrawn."""
    text = _ANSI.sub("", text).replace("\r\n", "\n")
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def in_process(capsys: Any, argv: list[str]) -> tuple[int, str, str]:
    """``veille ARGV`` run in this process: (exit code, stdout, stderr); a traceback fails the test."""
    from veille.cli import main

    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.out, captured.err

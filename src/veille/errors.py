"""Every exception veille raises.

Each inherits :class:`VeilleError` *and* the builtin family it belongs to, so callers can
catch either (``except FileNotFoundError`` still works). Messages are one line and say what
to do next; the CLI prints them as they are.
"""

from __future__ import annotations


class VeilleError(Exception):
    """Base class of every veille error."""

    exit_code: int = 1


class UsageError(VeilleError, ValueError):
    """The command line or the settings were used wrongly."""

    exit_code = 2


class ConfigError(UsageError):
    """The settings file or environment holds an invalid or unknown key."""


class InputNotFoundError(VeilleError, FileNotFoundError):
    """A path given as input does not exist or holds no video."""


class VideoDecodeError(VeilleError, OSError):
    """A video cannot be opened or decoded."""


class OutputError(VeilleError, OSError):
    """An output cannot be written (permissions, disk full, bad folder)."""


class ModelError(VeilleError, RuntimeError):
    """A model cannot be resolved, downloaded or loaded."""


class NotEnoughMemoryError(ModelError, MemoryError):
    """The models of an analysis would not fit in the memory available."""


class ModelNotCachedError(ModelError, FileNotFoundError):
    """A model is not in the cache and may not be downloaded (offline)."""


class ModelDownloadError(ModelError, ConnectionError):
    """A model download failed after its retries."""


class DiskSpaceError(ModelError, OSError):
    """Not enough free disk space for a download."""


class BackendError(VeilleError, RuntimeError):
    """A model backend failed while generating."""


class CameraProfileError(VeilleError, ValueError):
    """A camera profile is unknown, damaged or from a newer veille, or footage does not fit or is too short."""

    exit_code = 2


class AnalysisInterrupted(VeilleError, KeyboardInterrupt):
    """The analysis was interrupted (Ctrl-C or SIGTERM); a partial report was written."""

    exit_code = 130

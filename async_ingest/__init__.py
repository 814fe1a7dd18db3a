"""async_ingest: stream CSV files into an S3 data lake as clean UTF-8.

Python API: ``ingest(sources, bucket=..., **options)``, ``await ingest_async(...)``, both returning a
RunResult and raising ConfigError (see async_ingest.api). They are imported on first use: the command
(``python -m async_ingest``) must import nothing heavy before its Ctrl-C guard (__main__.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = [
    "ConfigError",
    "Credentials",
    "FailedFiles",
    "IngestOptions",
    "RunResult",
    "__version__",
    "ingest",
    "ingest_async",
]

if TYPE_CHECKING:
    from async_ingest.api import ingest, ingest_async
    from async_ingest.options import Credentials, IngestOptions
    from async_ingest.outcome import ConfigError, FailedFiles, RunResult


def __getattr__(name: str) -> Any:
    if name in ("ingest", "ingest_async"):
        from async_ingest import api

        return getattr(api, name)
    if name in ("Credentials", "IngestOptions"):
        from async_ingest import options

        return getattr(options, name)
    if name in ("ConfigError", "FailedFiles", "RunResult"):
        from async_ingest import outcome

        return getattr(outcome, name)
    raise AttributeError(f"module 'async_ingest' has no attribute {name!r}")

"""The Python API, for orchestrator tasks (Airflow, Dagster, Prefect, a script):

    from async_ingest import IngestOptions, ingest

    result = ingest(["exports/"], bucket="datalake", key_template="raw/{filename}")
    result.raise_for_failures()

    base = IngestOptions(bucket="datalake", checksum="crc32", manifest=False)
    ingest(["a/"], base, part_size="16MiB")  # keyword changes override fields of the options

Options are IngestOptions' fields (the command's long options with underscores, negative flags made
positive: ``manifest=False`` for ``--no-manifest``); sizes take bytes or "8MiB"; ``date`` a
``datetime.date`` or "YYYY-MM-DD"; ``tags``/``metadata`` a mapping. An unknown keyword is a
TypeError at the call (and mypy flags it: the keywords are typed). A bad value raises ConfigError
naming the option as Python spells it (``part_size=1: must be between 5MiB and 5GiB``). The API reads
no ASYNC_INGEST_* variable (a task says what it means); AWS_* variables and the AWS config files are
honoured as by the command (credentials, AWS_ENDPOINT_URL, region). It prints nothing unless
``progress=True`` (the command's output) or a ``printer`` is given, and installs no signal handler:
cancelling the task (ingest_async) or Ctrl-C (ingest) aborts the uploads in flight.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Unpack

from async_ingest.options import OPTION_NAMES, IngestOptions, OptionChanges
from async_ingest.outcome import ConfigError, Output, RunResult, spell_options
from async_ingest.output.progress import Printer, default_printer
from async_ingest.output.report import Summary
from async_ingest.resolve import resolve
from async_ingest.run import drop_connection_noise, execute, tune_allocator
from async_ingest.settings import RunSettings
from async_ingest.subscribers import Subscriber, subscribed

__all__ = ["ConfigError", "IngestOptions", "RunResult", "ingest", "ingest_async"]

Source = str | os.PathLike[str]
# Keyword spellings of the first release (the command's flags with underscores): still taken, with a
# DeprecationWarning, until the next release. Each maps to the field and how its value turns.
DEPRECATED: dict[str, tuple[str, Any]] = {
    "no_manifest": ("manifest", lambda value: not value),
    "no_create_bucket": ("create_bucket", lambda value: not value),
    "tag": ("tags", lambda value: [value] if isinstance(value, str) else list(value)),
}


class _Silent:
    """The default printer: the run's events go nowhere."""

    def __call__(self, event: Any) -> None:
        pass

    def summary(self, summary: Summary) -> None:
        pass

    def close(self) -> None:
        pass


def _warn(line: str) -> None:
    """A warning about the configuration (a credentials file readable by others): a Python warning,
    which the orchestrator's log shows and a caller may filter."""
    warnings.warn(spell_options(line), UserWarning, stacklevel=6)


def _output(progress: bool, printer: Printer | None, subscriber: Subscriber | None = None) -> Output:
    """Where the run's events go: nowhere, the command's output, or the caller's printer; and to
    the caller's subscriber (on_queued / on_progress / on_done) beside that."""
    output = _printer_output(progress, printer)
    return output if subscriber is None else subscribed(output, subscriber)


def _printer_output(progress: bool, printer: Printer | None) -> Output:
    if not isinstance(progress, bool):
        raise ConfigError("expected True or False", option="progress", value=progress)
    if printer is not None:
        if not callable(printer) or not callable(getattr(printer, "summary", None)):
            raise ConfigError(
                "expected a printer (a callable with summary() and close())", option="printer", value=printer
            )
        custom = printer
        return Output(printer=lambda settings, sources: custom)
    if progress:
        import sys

        return Output(printer=default_printer, say=print, warn=lambda line: print(line, file=sys.stderr))
    return Output(printer=lambda settings, sources: _Silent())


def _source_list(sources: Source | Iterable[Source]) -> list[Path]:
    """One path or many (a lone string is one path, not a sequence of one-letter paths)."""
    if isinstance(sources, str | os.PathLike):
        return [Path(sources)]
    return [Path(source) for source in sources]


def _options(options: IngestOptions | None, changes: dict[str, Any]) -> IngestOptions:
    """options with the keyword changes applied; old spellings taken with a DeprecationWarning."""
    if options is not None and not isinstance(options, IngestOptions):
        raise TypeError(f"options must be an IngestOptions, not {type(options).__name__}")
    fields: dict[str, Any] = {}
    for name, value in changes.items():
        if name in DEPRECATED:
            field, turn = DEPRECATED[name]
            warnings.warn(
                f"{name}= is deprecated: use {field}= (IngestOptions)", DeprecationWarning, stacklevel=4
            )
            name, value = field, turn(value)
        elif name not in OPTION_NAMES:
            raise TypeError(f"ingest() got an unexpected keyword argument {name!r} (see IngestOptions)")
        if value is None and name not in ("credentials",):
            continue  # None: the option's default, as when it is left out
        fields[name] = value
    return dataclasses.replace(options or IngestOptions(), **fields)


def _settings(sources: Source | Iterable[Source], options: IngestOptions | None, changes: Any) -> RunSettings:
    # AWS_* only (endpoint, credentials): no ASYNC_INGEST_* default, no shard from the job's index.
    environ = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    return resolve(_source_list(sources), _options(options, dict(changes)), environ, _warn)


async def ingest_async(
    sources: Source | Iterable[Source],
    options: IngestOptions | None = None,
    /,
    *,
    progress: bool = False,
    printer: Printer | None = None,
    subscriber: Subscriber | None = None,
    **changes: Unpack[OptionChanges],
) -> RunResult:
    """Land SOURCES (CSV files or folders) in the bucket as UTF-8, on the running event loop.

    Raises ConfigError for a bad option or a configuration found wrong before any upload (bucket
    name, credentials refused, missing source); per-file failures are in the result (``ok`` False,
    ``raise_for_failures()``).
    """
    output = _output(progress, printer, subscriber)
    settings = _settings(sources, options, changes)
    return await execute(settings, output)


def ingest(
    sources: Source | Iterable[Source],
    options: IngestOptions | None = None,
    /,
    *,
    progress: bool = False,
    printer: Printer | None = None,
    subscriber: Subscriber | None = None,
    **changes: Unpack[OptionChanges],
) -> RunResult:
    """As ingest_async, in its own event loop; returns when the run is over.

    Called where an event loop is already running (a Jupyter cell, an async task), the run goes to a
    fresh thread with a loop of its own, and the caller's loop waits: use ``await ingest_async(...)``
    there to keep it running.
    """
    output = _output(progress, printer, subscriber)
    settings = _settings(sources, options, changes)
    tune_allocator()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_own_loop(settings, output))
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="async-ingest") as pool:
        return pool.submit(asyncio.run, _own_loop(settings, output)).result()


async def _own_loop(settings: RunSettings, output: Output) -> RunResult:
    asyncio.get_running_loop().set_exception_handler(drop_connection_noise)  # our loop: ours to set
    return await execute(settings, output)

"""The Python API, for orchestrator tasks (Airflow, Dagster, Prefect, a script):

    result = ingest(["exports/"], bucket="datalake", key_template="raw/{filename}")
    if not result.ok:
        raise RuntimeError(result.failures)

Keyword options are the command's long options with underscores (``endpoint_url``, ``key_template``,
``part_size``, ``no_manifest``, ...); flags take a bool, repeatable options (``include``, ``tag``, ...)
a string or a list of strings. They go through the command's own checks, so a bad value raises
ConfigError with the command's message. Unlike the command, the API reads no ASYNC_INGEST_*
variable (a task says what it means); AWS_* variables and the AWS config files are honoured as by
the command (credentials, AWS_ENDPOINT_URL, region). It prints nothing unless ``progress=True``
(the command's output) or a ``printer`` is given, and installs no signal handler: cancelling the
task (ingest_async) or Ctrl-C (ingest) aborts the uploads in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import datetime as dt
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from async_ingest.cli.main import (
    CLI_OUTPUT,
    NUMBER_PARSERS,
    _Repeatable,
    build_parser,
    settings_from_args,
)
from async_ingest.outcome import ConfigError, Output, RunResult
from async_ingest.output.progress import Printer
from async_ingest.output.report import Summary
from async_ingest.run import drop_connection_noise, execute, tune_allocator
from async_ingest.settings import RunSettings

__all__ = ["ConfigError", "RunResult", "ingest", "ingest_async"]

Source = str | os.PathLike[str]
_NOT_OPTIONS = {"help", "version", "sources"}


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
    warnings.warn(line.removeprefix("async-ingest: warning: "), UserWarning, stacklevel=6)


def _methods(thing: object, *names: str) -> list[object]:
    return [getattr(thing, name, None) for name in names]


def _output(progress: bool, printer: Printer | None) -> Output:
    """Checked at the call, not when the run first reports: progress="no" would count as true."""
    if not isinstance(progress, bool):
        raise ConfigError(f"progress={progress!r}: expected True or False")
    parts = () if printer is None else (printer, *_methods(printer, "summary", "close"))
    if not all(map(callable, parts)):
        raise ConfigError(
            f"printer={printer!r}: expected a printer (called with each event, with summary() and close())"
        )
    if printer is not None:
        custom = printer
        return Output(printer=lambda settings, sources: custom)
    if progress:
        return CLI_OUTPUT
    return Output(printer=lambda settings, sources: _Silent())


def _source_list(sources: Source | Iterable[Source]) -> list[Path]:
    """One path or many (a lone string is one path, not a sequence of one-letter paths)."""
    if isinstance(sources, str | os.PathLike):
        return [Path(sources)]
    return [Path(source) for source in sources]


def _value(action: argparse.Action, name: str, value: Any) -> Any:
    """An option's value as argparse would have produced it from the command line."""
    flag = action.option_strings[0]
    if isinstance(action, argparse._StoreTrueAction):
        if not isinstance(value, bool):
            raise ConfigError(f"{name}={value!r}: expected True or False (the flag {flag})")
        return value
    if isinstance(action, _Repeatable):
        values = [value] if isinstance(value, str) else list(value)
        if not all(isinstance(item, str) for item in values):
            raise ConfigError(f"{name}={value!r}: expected a string or a list of strings ({flag})")
        return values
    if isinstance(value, dt.datetime):  # a datetime is a date too: its day
        value = value.date()
    if isinstance(value, dt.date):
        value = value.isoformat()
    if action.type is Path:
        if not isinstance(value, str | os.PathLike):
            raise ConfigError(f"{name}={value!r}: expected a path ({flag})")
        return Path(value)
    if action.type in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ConfigError(f"{name}={value!r}: expected a number ({flag})")
        if action.type is int and isinstance(value, float):  # int(1.7) would be 1, silently
            raise ConfigError(f"{name}={value!r}: expected a whole number ({flag})")
        try:
            value = NUMBER_PARSERS[action.type](value) if isinstance(value, str) else action.type(value)
        except ValueError:
            raise ConfigError(f"{name}={value!r}: expected a number ({flag})") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # part_size=16 * MiB, parts_in_flight=8: as the command would read them
    elif not isinstance(value, str):
        raise ConfigError(f"{name}={value!r}: expected a string ({flag})")
    if action.choices is not None and value not in action.choices:
        raise ConfigError(f"{flag} {value!r}: choose from {', '.join(map(str, action.choices))}")
    return value


def settings_from_options(sources: list[Path], options: dict[str, Any]) -> RunSettings:
    """Keyword options -> the command's namespace -> the command's checks -> RunSettings."""
    parser = build_parser()
    actions = {a.dest: a for a in parser._actions if a.option_strings and a.dest not in _NOT_OPTIONS}
    args = parser.parse_args([])
    for name, value in options.items():
        action = actions.get(name)
        if action is None:
            raise ConfigError(f"unknown option {name!r} (the command's long options, with underscores)")
        if value is not None:  # None: the option's default, as when it is left out
            setattr(args, name, _value(action, name, value))
    args.sources = sources
    # AWS_* only (endpoint, credentials): no ASYNC_INGEST_* default, no shard from the job's index.
    environ = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    return settings_from_args(args, environ, warn=_warn)


async def ingest_async(
    sources: Source | Iterable[Source],
    *,
    bucket: str | None = None,
    progress: bool = False,
    printer: Printer | None = None,
    **options: Any,
) -> RunResult:
    """Land SOURCES (CSV files or folders) in BUCKET as UTF-8, on the running event loop.

    Raises ConfigError for a bad option or a configuration found wrong before any upload (bucket
    name, credentials refused, missing source); per-file failures are in the result (``ok`` False).
    """
    settings = settings_from_options(_source_list(sources), {"bucket": bucket, **options})
    return await execute(settings, _output(progress, printer))


def ingest(
    sources: Source | Iterable[Source],
    *,
    bucket: str | None = None,
    progress: bool = False,
    printer: Printer | None = None,
    **options: Any,
) -> RunResult:
    """As ingest_async, in its own event loop; returns when the run is over.

    Called where an event loop is already running (a Jupyter cell, an async task), the run goes to a
    fresh thread with a loop of its own, and the caller's loop waits: use ``await ingest_async(...)``
    there to keep it running.
    """
    settings = settings_from_options(_source_list(sources), {"bucket": bucket, **options})
    output = _output(progress, printer)
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

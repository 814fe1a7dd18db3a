"""The command line, one front end of the library: arguments and ASYNC_INGEST_* variables ->
IngestOptions (table.py) -> resolve.resolve -> run.execute -> exit code.

Exit codes: 0 every file landed (or was skipped as unchanged); 1 at least one file failed (the
others still landed); 2 usage or configuration error, before any upload; 130 interrupted (SIGINT);
143 terminated (SIGTERM). In-flight multipart uploads are aborted before exiting.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace

from async_ingest.cli.table import BY_FIELD, UsageError, parse, spell
from async_ingest.outcome import ConfigError, Output, Spelling
from async_ingest.output.display import printable
from async_ingest.output.lines import json_error_line
from async_ingest.output.progress import Printer, default_printer
from async_ingest.resolve import resolve
from async_ingest.run import drop_connection_noise, execute, tune_allocator
from async_ingest.settings import RunSettings
from async_ingest.sources.files import SourceFile

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_SIGINT = 130
EXIT_SIGTERM = 143
# The options named in messages, as flags with their values as typed: --checksum md5.
COMMAND_LINE = Spelling(spell, python=False)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _warning(line: str) -> None:
    print(f"async-ingest: warning: {line}", file=sys.stderr)


def parse_settings(
    argv: Sequence[str] | None, environ: dict[str, str], warn: Callable[[str], None] = _warning
) -> RunSettings:
    """argv and ASYNC_INGEST_* variables -> IngestOptions (cli/table.py) -> the library's checks
    (resolve.resolve) -> RunSettings. UsageError carries the line as the command spells it."""

    def spelled(line: str) -> None:
        warn(COMMAND_LINE(line))

    try:
        sources, options = parse(argv, environ, spelled)
        # AWS_* for the endpoint, and the job's index for the shard (JOB_COMPLETION_INDEX, AWS Batch).
        settings = resolve(sources, options, environ, spelled)
        return replace(settings, spelling=COMMAND_LINE)  # the run's messages name flags too
    except UsageError:
        raise
    except ConfigError as exc:
        raise UsageError(exc.render(spell, python=False)) from None


def make_printer(settings: RunSettings, sources: list[SourceFile]) -> Printer:
    return default_printer(settings, sources)


_PRINTERS: list[Printer] = []  # the run's printer, closed (bars cleared) before a signal's line


def _cli_printer(settings: RunSettings, sources: list[SourceFile]) -> Printer:
    printer = make_printer(settings, sources)
    _PRINTERS.append(printer)
    return printer


def _terminal_columns() -> int | None:
    """At a terminal, the columns lines must fit in (keeping a few for the ^C echo); None when piped."""
    return shutil.get_terminal_size().columns - 2 if sys.stdout.isatty() else None


CLI_OUTPUT = Output(printer=_cli_printer, say=print, warn=_stderr, columns=_terminal_columns)


async def _run_with_signals(settings: RunSettings, received: list[int]) -> int:
    """SIGINT and SIGTERM cancel the run; every file's upload aborts on the way out."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(drop_connection_noise)
    main_task = asyncio.current_task()
    assert main_task is not None

    def on_signal(signum: int) -> None:
        if received:
            return  # already stopping: let the aborts finish
        received.append(signum)
        for printer in _PRINTERS:
            printer.close()  # the bars go first: the line below must not be drawn over them
        print(f"async-ingest: {signal.Signals(signum).name}: aborting uploads in flight...", file=sys.stderr)
        main_task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    return (await execute(settings, CLI_OUTPUT)).exit_code


def _json_mode(argv: Sequence[str] | None, environ: dict[str, str]) -> bool:
    """--log-format json, read before the options are checked: their errors are JSON too."""
    row = BY_FIELD["log_format"]
    args = list(sys.argv[1:] if argv is None else argv)
    chosen = environ.get(row.env, "text")
    for index, arg in enumerate(args):
        if arg == row.flag and index + 1 < len(args):
            chosen = args[index + 1]
        elif arg.startswith(row.flag + "="):
            chosen = arg.split("=", 1)[1]
    return chosen == "json"


def main(argv: Sequence[str] | None = None) -> int:
    tune_allocator()
    environ = dict(os.environ)
    received: list[int] = []
    try:
        settings = parse_settings(argv, environ)
        return asyncio.run(_run_with_signals(settings, received))
    except ConfigError as exc:
        line = f"async-ingest: error: {printable(exc.render(spell, python=False))}"
        print(json_error_line(line) if _json_mode(argv, environ) else line, file=sys.stderr)
        return EXIT_USAGE
    except (asyncio.CancelledError, KeyboardInterrupt):
        if received and received[0] == signal.SIGTERM:
            return EXIT_SIGTERM
        return EXIT_SIGINT

"""What a run hands back (RunResult), the error raised before any upload (ConfigError), and where a
run's lines go (Output): shared by the command line and the Python API (api.py)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from async_ingest.events import FileResult
    from async_ingest.output.progress import Printer
    from async_ingest.settings import RunSettings
    from async_ingest.sources.files import SourceFile


_NO_VALUE: Any = object()


class ConfigError(Exception):
    """A bad option, value or configuration, found before any upload (the command's exit 2).

    ``option`` is the IngestOptions field at fault (None for the configuration as a whole), ``value``
    what was given, ``reason`` why it is refused. ``str()`` spells it as Python does
    (``part_size=1: must be between 5MiB and 5GiB``); the command line spells the option as its flag
    (``--part-size 1: ...``) through ``render``."""

    def __init__(self, reason: str, *, option: str | None = None, value: Any = _NO_VALUE) -> None:
        self.reason = reason
        self.option = option
        self.value = value
        super().__init__(self.render(python_spelling))

    def render(self, spell: Callable[[str], str], python: bool = True) -> str:
        """The one line: spell(option) names the option; python=False shows the value as typed.
        Options named inside the reason ({opt:NAME}, as lower modules write them) are spelled too."""
        reason = spell_options(self.reason, spell, python)
        if self.option is None:
            return reason
        name = spell(self.option)
        if self.value is _NO_VALUE:
            return f"{name}: {reason}"
        if python:
            return f"{name}={self.value!r}: {reason}"
        return f"{name} {self.value}: {reason}"


# {opt:NAME} or {opt:NAME=VALUE}; in VALUE, a backslash escapes the next character (option_mark).
_OPTION_MARK = re.compile(r"\{opt:([a-z_]+)(?:=((?:[^{}\\]|\\.)*))?\}")
_ESCAPED = re.compile(r"\\(.)")
_WHOLE = re.compile(r"-?[0-9]+")
NEGATED = {"create_bucket": "create_bucket=False", "manifest": "manifest=False"}


def python_spelling(option: str) -> str:
    """An option as the Python API names it (a negative flag by its value)."""
    return NEGATED.get(option, option)


def option_mark(option: str, value: object) -> str:
    """{opt:NAME=VALUE} for any value (a path may hold braces): what a lower module writes when
    the value is not a constant of its own."""
    escaped = re.sub(r"([\\{}])", r"\\\1", str(value))
    return f"{{opt:{option}={escaped}}}"


def spell_options(text: str, spell: Callable[[str], str] = python_spelling, python: bool = True) -> str:
    """{opt:NAME} and {opt:NAME=VALUE} marks in a message (lower modules never spell a flag) -> the
    front end's words: spell(NAME) alone; with a value, ``checksum='md5'`` for Python (a whole
    number bare: ``concurrency=4``), ``--checksum md5`` for the command line (python=False)."""

    def words(match: re.Match[str]) -> str:
        name, value = spell(match.group(1)), match.group(2)
        if value is None:
            return name
        value = _ESCAPED.sub(r"\1", value)
        if not python:
            return f"{name} {value}"
        return f"{name}={value if _WHOLE.fullmatch(value) else repr(value)}"

    return _OPTION_MARK.sub(words, text)


@dataclass(frozen=True)
class Spelling:
    """How a front end words the options named in a run's messages (per-file errors, the report's
    error): RunSettings.spelling, called on each message. The Python API's by default; the command
    line's is Spelling(cli.table.spell, python=False). Lower modules never import a front end."""

    name: Callable[[str], str] = python_spelling
    python: bool = True

    def __call__(self, text: str) -> str:
        return spell_options(text, self.name, self.python)


PYTHON_SPELLING = Spelling()


class FailedFiles(Exception):
    """RunResult.raise_for_failures(): the files that failed, each with its cause, and the run's own
    errors (manifest or report not written). ``failed`` holds (source, cause) pairs."""

    def __init__(self, failed: list[tuple[str, str]], errors: list[str]) -> None:
        self.failed = failed
        self.errors = errors
        lines = [f"{source}: {cause}" for source, cause in failed] + errors
        count = f"{len(failed)} file(s) failed" + (f", {len(errors)} run error(s)" if errors else "")
        super().__init__(count + ":\n" + "\n".join(f"  {line}" for line in lines))


@dataclass
class RunResult:
    """The outcome of one run: the same data as the JSON report (--report), plus the exit code the
    command would end with. Per-file failures are here, not raised: ``ok`` is False when any failed."""

    summary: dict[str, Any]  # files, uploaded, skipped, failed, planned, bytes_read, ... as in the report
    exit_code: int  # 0 every file landed or was skipped as unchanged; 1 something failed
    errors: list[str] = field(default_factory=list)  # the run's own failures: manifest, report
    manifest_key: str | None = None  # where the run manifest was written (None: none written)
    results: Sequence[FileResult] = field(default=(), repr=False)  # what `files` is made from

    @functools.cached_property
    def files(self) -> list[dict[str, Any]]:
        """One entry per source, as in the report: status, key, error, ... Made when first asked
        for: as dicts, 100,000 files would hold ~150 MB the command itself never needs."""
        from async_ingest.output.report import result_entry

        return [result_entry(result) for result in self.results]

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def raise_for_failures(self) -> None:
        """Raise FailedFiles naming every failed file and why (and the run's own errors); nothing
        when the run is ok. For a task that should fail as a whole when any file failed."""
        if self.ok:
            return
        failed = [(result.source.location, result.error or "failed") for result in self.results
                  if result.status == "failed"]  # fmt: skip
        raise FailedFiles(failed, list(self.errors))

    @property
    def failures(self) -> list[dict[str, Any]]:
        """The files that failed, each with its ``error``."""
        return [entry for entry in self.files if entry["status"] == "failed"]


def _nothing(line: str) -> None:
    """Output that goes nowhere (the API's default)."""


@dataclass(frozen=True)
class Output:
    """Where a run's lines go: per-file events and the summary (the printer), informational lines
    (say: the manifest's key, the local server) and error lines (warn: stderr for the command)."""

    printer: Callable[[RunSettings, list[SourceFile]], Printer]
    say: Callable[[str], None] = _nothing
    warn: Callable[[str], None] = _nothing
    columns: Callable[[], int | None] = lambda: None  # a terminal's width, where say's lines must fit

"""Finding the sources: the SOURCE arguments taken, folders walked (links, loops, hidden names,
Ctrl-C while a huge folder lists), --include / --exclude applied, each zip archive expanded into its
CSV members, duplicates dropped, and the one line said when nothing was found.

Separate from files.py (what a source is, how it is read): the walk decides which sources exist,
the reading never does; the pipeline imports files.py alone."""

from __future__ import annotations

import fnmatch
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from async_ingest.outcome import option_mark
from async_ingest.sources.archives import ZIP_SUFFIX, ArchiveRefused, is_archive, list_members, member_refusal
from async_ingest.sources.compressed import CSV_SUFFIX, SOURCE_FORMATS
from async_ingest.sources.files import SourceFile

# Taken by default: .csv, the same compressed (read as a stream, never unpacked to disk), and .zip.
CSV_SUFFIXES = (CSV_SUFFIX, *(CSV_SUFFIX + suffix for suffix in SOURCE_FORMATS), ZIP_SUFFIX)


class SourceError(ValueError):
    """A SOURCE argument cannot be used (missing, unreadable, nothing to ingest)."""


@dataclass(frozen=True)
class Unreadable:
    """A folder that could not be listed, or a file in one that could not be stat'ed: reported as a
    failed source (the other files still land), never skipped without a word."""

    path: Path
    reason: str  # the OS error, e.g. "Permission denied"

    @property
    def cause(self) -> str:
        """Why, without the path (a failed FileResult's error)."""
        return f"cannot read: {self.reason}"

    @property
    def error(self) -> str:
        return f"{self.path}: {self.cause}"


def _collect(unreadable: list[Unreadable] | None, path: Path, exc: OSError) -> None:
    """Record an unreadable path, or raise if the caller keeps no list (never drop it silently)."""
    found = Unreadable(path, exc.strerror or str(exc))
    if unreadable is None:
        raise SourceError(found.error)
    unreadable.append(found)


@dataclass(frozen=True)
class FileFilter:
    """--include / --exclude: shell-style patterns (fnmatch: `*` also crosses `/`, as in the AWS
    CLI) matched case-sensitively against the path relative to the SOURCE folder; a pattern without
    `/` also matches the file name alone. Include patterns replace the default: *.csv, *.csv.gz,
    *.csv.zst, *.csv.bz2 and *.zip (whose CSV members are the sources), in any case."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def takes(self, relpath: str) -> bool:
        name = relpath.rsplit("/", 1)[-1]
        if self.include:
            included = any(_matches(p, relpath, name) for p in self.include)
        else:
            included = name.lower().endswith(CSV_SUFFIXES)
        return included and not any(_matches(p, relpath, name) for p in self.exclude)

    def nothing_found(self, shown: str) -> str:
        """Names the filter that took nothing, and how to take other names (a folder of .tsv or .txt
        exports is the common case). Options are {opt:...} marks: the front end spells them."""
        excluded = f" (with {option_mark('exclude', ' '.join(self.exclude))})" if self.exclude else ""
        if self.include:
            return (
                f"no files matching {' or '.join(self.include)} found in {shown}{excluded}: "
                "{opt:include} patterns are case-sensitive and match the path below the folder or the name"
            )
        return (
            f"no CSV files found in {shown}{excluded} (looked for *.csv, *.csv.gz, *.csv.zst, *.csv.bz2, "
            "*.zip, any case); other names: {opt:include} GLOB, e.g. {opt:include} '*.txt'"
        )


def _matches(pattern: str, relpath: str, name: str) -> bool:
    return fnmatch.fnmatchcase(relpath, pattern) or (
        "/" not in pattern and fnmatch.fnmatchcase(name, pattern)
    )


ALL_CSV = FileFilter()


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _stat(path: Path, reldir: str) -> SourceFile:
    st = path.stat()
    return SourceFile(str(path), reldir, st.st_size, st.st_mtime_ns)


class ListingStopped(Exception):
    """The listing was given up (the run was interrupted while it went on)."""


def walk_folder(
    root: Path,
    *,
    follow_symlinks: bool = False,
    unreadable: list[Unreadable] | None = None,
    filters: FileFilter = ALL_CSV,
    stop: threading.Event | None = None,
) -> list[SourceFile]:
    """Every file below root the filters take (default: *.csv, any case), hidden files and folders
    skipped (whatever the patterns), sorted: a folder's files, then its subfolders one by one.

    Symbolic links that lead outside root are skipped unless follow_symlinks: a link in a shared
    export folder must not be a way to upload files from elsewhere on the machine. A folder reached
    again (a link to a parent, two links to one folder) is walked once: known by (device, inode),
    so link loops end. Folders that cannot be listed go to unreadable (without that list:
    SourceError). os.scandir's entries know their type, so a plain file costs one stat (os.walk and
    Path checks took four). stop, once set, ends the walk with ListingStopped (checked per entry).
    """
    found: list[SourceFile] = []
    visited: set[tuple[int, int]] = set()
    pending = [(root, "")]  # a stack, not recursion: folders may nest deeper than Python's limit
    while pending:
        folder, reldir = pending.pop()
        try:
            entries = _list_folder(folder, visited, stop)
        except OSError as exc:
            _collect(unreadable, Path(exc.filename) if exc.filename else folder, exc)
            continue
        subfolders = []
        for entry in entries:
            if stop is not None and stop.is_set():
                raise ListingStopped
            if _is_hidden(entry.name):
                continue
            relpath = f"{reldir}/{entry.name}" if reldir else entry.name
            if _is_folder(entry):
                if follow_symlinks or not entry.is_symlink():
                    subfolders.append((folder / entry.name, relpath))
                continue
            if not filters.takes(relpath):
                continue
            try:  # a folder that may be listed but not searched (r, no x): the names, but no stat
                source = _listed_entry(entry, root, reldir, follow_symlinks)
            except OSError as exc:
                _collect(unreadable, folder / entry.name, exc)
                continue
            if source is not None:
                found.extend(expand_archive(source, unreadable))
        pending.extend(reversed(subfolders))
    return found


def _list_folder(
    folder: Path, visited: set[tuple[int, int]], stop: threading.Event | None
) -> list[os.DirEntry[str]]:
    """folder's entries sorted by name; none if it was walked already (one stat per folder). A
    huge folder is read with a check of stop every few thousand entries."""
    st = os.stat(folder)
    identity = (st.st_dev, st.st_ino)
    if identity in visited:
        return []
    visited.add(identity)
    entries = []
    with os.scandir(folder) as listing:
        for entry in listing:
            entries.append(entry)
            if stop is not None and len(entries) % 4096 == 0 and stop.is_set():
                raise ListingStopped
    entries.sort(key=lambda entry: entry.name)
    return entries


def _is_folder(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # a link to a folder counts, as in os.walk
    except OSError:
        return False


def _listed_entry(
    entry: os.DirEntry[str], root: Path, reldir: str, follow_symlinks: bool
) -> SourceFile | None:
    if entry.is_symlink() and not follow_symlinks and not _inside(Path(entry.path), root):
        return None
    if not entry.is_file():
        return None
    st = entry.stat()
    return SourceFile(entry.path, reldir, st.st_size, st.st_mtime_ns)


def expand_archive(source: SourceFile, unreadable: list[Unreadable] | None) -> list[SourceFile]:
    """A .zip: one source per CSV member (archives.list_members). An archive refused whole goes to
    unreadable; an encrypted member or one of a method not read, alone. Anything else: itself."""
    if not is_archive(source.file_name):
        return [source]
    try:
        listed = list_members(source.path, source.size)
    except ArchiveRefused as exc:
        _collect(unreadable, source.path, OSError(str(exc)))
        return []
    members = []
    for parts, member in listed:
        location = os.path.join(source.location, *parts)
        problem = member_refusal(member)
        if problem is not None:  # sizes are checked when it is read, against its expansion bound
            _collect(unreadable, Path(location), OSError(problem))
            continue
        reldir = "/".join(p for p in (source.reldir, *parts[:-1]) if p)
        members.append(SourceFile(location, reldir, member.compress_size, source.mtime_ns, member))
    return members


def _real_path(text: str, real_dirs: dict[str, str]) -> str:
    """path.resolve(), resolving each folder once: resolve() walks every component of every path, a
    third of the listing time for a folder of 1,000 small files. Only a link at the file needs more.
    Strings, not Paths: hashing 100,000 Paths cost more than the stats."""
    if os.path.islink(text):
        return os.path.realpath(text)
    folder, name = os.path.split(text)
    real = real_dirs.get(folder)
    if real is None:
        real = real_dirs[folder] = os.path.realpath(folder or os.curdir)
    return os.path.join(real, name)


URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:/")


def _missing_source(argument: Path) -> str:
    """A SOURCE that does not exist; a URL (Path folds `s3://b/k` into `s3:/b/k`) gets told what
    SOURCE is: this tool uploads local files, the target is --bucket."""
    text = str(argument)
    if URL_SCHEME.match(text):
        scheme, rest = text.split(":/", 1)
        return (
            f"{scheme}://{rest.lstrip('/')}: not a local path: this tool uploads local files and folders "
            "(the target is {opt:bucket}); download remote objects first"
        )
    return f"{argument}: no such file or directory"


def find_sources(
    arguments: list[Path],
    *,
    follow_symlinks: bool = False,
    unreadable: list[Unreadable] | None = None,
    filters: FileFilter = ALL_CSV,
    stop: threading.Event | None = None,
) -> list[SourceFile]:
    """Files given are taken as they are (whatever their suffix, whatever the filters); folders are
    walked for the files the filters take. Unreadable folders go to unreadable (without that list:
    SourceError). stop, once set, ends the listing with ListingStopped."""
    sources: list[SourceFile] = []
    seen: set[str] = set()
    real_dirs: dict[str, str] = {}
    for argument in arguments:
        if not argument.exists():
            raise SourceError(_missing_source(argument))
        if argument.is_dir():
            candidates = walk_folder(
                argument, follow_symlinks=follow_symlinks, unreadable=unreadable, filters=filters, stop=stop
            )
        elif argument.is_file():
            candidates = expand_archive(_stat(argument, ""), unreadable)
        else:
            raise SourceError(f"{argument}: not a regular file or directory")
        for source in candidates:
            real = _real_path(source.location, real_dirs)
            if real not in seen:
                seen.add(real)
                sources.append(source)
    if not sources and not unreadable:
        shown = ", ".join(str(a) for a in arguments)
        raise SourceError(filters.nothing_found(shown))
    return sources

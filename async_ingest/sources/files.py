"""Finding the CSV files to ingest (walk the SOURCE arguments, stat each file, shard the list) and
reading them. Reads are blocking calls, made on worker threads by the pipeline: one hand-off per
step (sample a file, fill a part), not one per read.

A source says what it can do (rereadable, size_known, detection_memory, open_reader, sample): the
pipeline asks it instead of testing its class, so standard input (stdin.py) is one more source.
Over 400 lines: the walk, the zip listing and the shard share SourceFile and its errors."""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import io
import os
import re
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from async_ingest.transform.compression import (
    DECOMPRESSOR_MEMORY,
    DEFAULT_MAX_EXPANDED_SIZE,
    MAX_EXPANDED_OPTION,
    SOURCE_FORMATS,
    ZIP_BZIP2,
    ZIP_SIGNATURES,
    DecompressingReader,
    ZipMember,
    ZipMemberReader,
    archive_refusal,
    decompressed_head,
    decompressed_region,
    decompressor_memory,
    inner_name,
    member_refusal,
    over_ratio,
    source_format,
)
from async_ingest.transform.detect import SAMPLE_WINDOW, SAMPLE_WINDOWS, sample_offsets

CSV_SUFFIX = ".csv"
# Taken by default beside .csv: the same, compressed (read as a stream, never unpacked to disk).
ZIP_SUFFIX = ".zip"  # each CSV member is a source of its own
CSV_SUFFIXES = (CSV_SUFFIX, *(CSV_SUFFIX + suffix for suffix in SOURCE_FORMATS), ZIP_SUFFIX)


# What detecting one source may hold at most: its sampled windows (or a compressed source's head).
DETECTION_MEMORY = SAMPLE_WINDOW * SAMPLE_WINDOWS


class Reader(Protocol):
    """A source as the part filler reads it: a file's SourceReader, standard input's StdinStream."""

    def readinto(self, buffer: memoryview, /) -> int:
        """Fill buffer from the source; 0 at its end."""

    def source_bytes_read(self, given: int) -> int:
        """Bytes of the source itself read so far (given: the bytes readinto() gave out)."""

    def close(self) -> None: ...

    def check_unchanged(self, bytes_read: int) -> None:
        """Raise SourceChanged if the source is not, or no longer, the one listed."""


class SourceError(ValueError):
    """A SOURCE argument cannot be used (missing, unreadable, nothing to ingest)."""


@dataclass(frozen=True, slots=True)  # one per file found: no __dict__ each
class SourceFile:
    # The path as the user can find it (relative to cwd if it was given relative), as str(Path)
    # writes it; a zip member's is the archive's path followed by the member's
    # (data/export.zip/2024/movies.csv). Text, not a Path: 100,000 Paths held ~40 MB more.
    location: str
    reldir: str  # folder relative to the SOURCE folder it was found under ("" for given files)
    size: int  # a zip member's: its compressed size
    mtime_ns: int
    member: ZipMember | None = None

    @property
    def path(self) -> Path:
        return Path(self.location)

    @property
    def file_name(self) -> str:
        return os.path.basename(self.location)

    @property
    def relpath(self) -> str:
        return f"{self.reldir}/{self.file_name}" if self.reldir else self.file_name

    @property
    def compression(self) -> str | None:
        """gzip, zstd or bzip2 for a .gz, .zst or .bz2 source, zip for a zip member; None for a
        plain one."""
        # The suffix of the whole path is the file name's: no basename (asked ~10 times per file).
        return "zip" if self.member is not None else source_format(self.location)

    def codec_memory(self) -> int:
        """What decompressing this source holds (0 for a plain one)."""
        fmt = self.compression
        if self.member is not None:  # bzip2 members hold bzip2's state; stored and deflate, zip's
            return DECOMPRESSOR_MEMORY["bzip2" if self.member.method == ZIP_BZIP2 else "zip"]
        return decompressor_memory(self.path, fmt) if fmt else 0

    def decompressing(
        self, max_expanded: int, limit_name: str = MAX_EXPANDED_OPTION
    ) -> DecompressingReader | ZipMemberReader:
        """A reader of the CSV's own bytes (for a compressed source only); output past max_expanded
        is refused, the message naming limit_name."""
        if self.member is not None:
            return ZipMemberReader(self.member, max_expanded, limit_name)
        fmt = self.compression
        assert fmt is not None
        return DecompressingReader(self.path, fmt, max_expanded, limit_name)

    @property
    def csv_name(self) -> str:
        """The CSV's own name, for its key: movies.csv.gz -> movies.csv."""
        return inner_name(self.file_name)

    # What the pipeline asks a source (standard input answers otherwise: stdin.py).

    @property
    def key_name(self) -> str:
        """The file name the key ({filename}) and the metadata carry."""
        return self.csv_name

    @property
    def rereadable(self) -> bool:
        """It can be read again: re-detected after a decode failure, compared with an object landed
        by an earlier run (re-run skip), resumed."""
        return True

    @property
    def size_known(self) -> bool:
        """Its size is known before it is read (parts are planned for it)."""
        return True

    @property
    def detection_memory(self) -> int:
        """What sampling it for detection holds: the whole of a small file, else the windows (a
        compressed source's head; a zip member's, at most its declared size and a byte)."""
        size = self.size if self.compression is None else DETECTION_MEMORY
        if self.member is not None:
            size = min(size, self.member.expanded_size + 1)
        return min(size, DETECTION_MEMORY)

    def sample(self, max_expanded: int = DEFAULT_MAX_EXPANDED_SIZE) -> list[bytes]:
        """The windows detection reads: spread over the file (a compressed source: its head)."""
        return read_windows(self, sample_offsets(self.size), SAMPLE_WINDOW, max_expanded)

    def open_reader(
        self, max_expanded: int = DEFAULT_MAX_EXPANDED_SIZE, limit_name: str = MAX_EXPANDED_OPTION
    ) -> Reader:
        """A reader for the part filler, opened at its first read."""
        return SourceReader(self, max_expanded, limit_name)


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


class SourceChanged(RuntimeError):
    """The file changed (size or modification time) while it was being read."""


def read_windows(
    source: SourceFile, offsets: list[int], window: int, max_expanded: int = DEFAULT_MAX_EXPANDED_SIZE
) -> list[bytes]:
    """The bytes at each offset, window bytes each (the whole file if offsets is just [0] and the
    file is no larger than the windows would be). A compressed source gives the head of its
    decompressed stream, as many bytes as all the windows: its middle is not reachable cheaply."""
    if source.compression is not None:
        head = window * SAMPLE_WINDOWS
        if source.member is not None:  # one byte past its declared size: a member that goes on fails
            head = min(head, source.member.expanded_size + 1)
        return [decompressed_head(source.decompressing(max_expanded), head)]
    with open(source.location, "rb") as reader:
        if offsets == [0]:
            return [reader.read(source.size)]
        windows = []
        for offset in offsets:
            reader.seek(offset)
            windows.append(reader.read(window))
        return windows


def read_region(
    source: SourceFile, offset: int, length: int, max_expanded: int = DEFAULT_MAX_EXPANDED_SIZE
) -> bytes:
    """length bytes centred on offset (of the decompressed stream, for a compressed source)."""
    if source.compression is not None:
        return decompressed_region(source.decompressing(max_expanded), offset, length)
    with open(source.path, "rb") as reader:
        reader.seek(max(0, offset - length // 2))
        return reader.read(length)


class SourceReader:
    """A source file as the part filler reads it: opened unbuffered at the first read (so reads go
    straight into part buffers), closed at the end, then checked against what was listed."""

    def __init__(
        self,
        source: SourceFile,
        max_expanded: int = DEFAULT_MAX_EXPANDED_SIZE,
        limit_name: str = MAX_EXPANDED_OPTION,
    ) -> None:
        self.source = source
        self._file: io.FileIO | None = None
        self._done = False
        self._inflating = source.decompressing(max_expanded, limit_name) if source.compression else None

    def source_bytes_read(self, given: int) -> int:
        """Bytes of the file itself read so far (given: the bytes readinto() gave out)."""
        return self._inflating.compressed_read if self._inflating is not None else given

    def readinto(self, buffer: memoryview, /) -> int:
        if self._inflating is not None:
            return self._inflating.readinto(buffer)
        if self._file is None:
            if self._done:
                raise ValueError("read after close")
            self._file = io.FileIO(self.source.location, "rb")
        return self._file.readinto(buffer) or 0

    def close(self) -> None:
        self._done = True
        if self._inflating is not None:
            self._inflating.close()
        if self._file is not None:
            self._file.close()
            self._file = None

    def check_unchanged(self, bytes_read: int) -> None:
        """Raise SourceChanged if the file is not, or no longer, the one listed."""
        size = self.source.size
        bytes_read = self.source_bytes_read(bytes_read)
        member = self.source.member
        if member is not None:  # the archive as listed; zipfile checked the member's size and CRC
            stat = os.stat(member.archive)
            bytes_read = size = member.archive_size
        else:
            stat = os.stat(self.source.location)
        if bytes_read != size or stat.st_size != size:
            raise SourceChanged(
                f"changed while being read (size {size} -> {stat.st_size} bytes, {bytes_read} read); "
                "nothing was uploaded"
            )
        if stat.st_mtime_ns != self.source.mtime_ns:
            raise SourceChanged("changed while being read (modification time changed); nothing was uploaded")


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
        exports is the common case)."""
        excluded = f" (with --exclude {' '.join(self.exclude)})" if self.exclude else ""
        if self.include:
            return (
                f"no files matching {' or '.join(self.include)} found in {shown}{excluded}: "
                "--include patterns are case-sensitive and match the path below the folder or the name"
            )
        return (
            f"no CSV files found in {shown}{excluded} (looked for *.csv, *.csv.gz, *.csv.zst, *.csv.bz2, "
            "*.zip, any case); other names: --include GLOB, e.g. --include '*.txt'"
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
    """A .zip: one source per CSV member (folders, hidden and non-CSV members left out). Its central
    directory is read once, here. An archive that does not open, holds two CSV members at one path
    (one would overwrite the other on one key) or whose members declare a bomb's sizes together goes
    to unreadable whole; an encrypted member or one of a method not read, alone. Anything else:
    itself."""
    if not source.file_name.lower().endswith(ZIP_SUFFIX):
        return [source]
    try:
        with zipfile.ZipFile(source.path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        _collect(unreadable, source.path, OSError(_unreadable_zip(source.path, exc)))
        return []
    taken = [(info, parts) for info in infos if (parts := _csv_member_parts(info)) is not None]
    listed = [_zip_member(source, info) for info, _ in taken]
    # Members refused on their own fail alone; the others may still be a bomb together.
    total = sum(m.expanded_size for m in listed if member_refusal(m) is None and not over_ratio(m))
    refusal = _duplicate_member(taken) or archive_refusal(source.size, total)
    if refusal is not None:
        _collect(unreadable, source.path, OSError(refusal))
        return []
    members = []
    for (info, parts), member in zip(taken, listed, strict=True):
        location = os.path.join(source.location, *parts)
        problem = member_refusal(member)
        if problem is not None:  # sizes are checked when it is read, against --max-expanded-size
            _collect(unreadable, Path(location), OSError(problem))
            continue
        reldir = "/".join(p for p in (source.reldir, *parts[:-1]) if p)
        member = dataclasses.replace(member, archive_expanded=total)
        members.append(SourceFile(location, reldir, info.compress_size, source.mtime_ns, member))
    return members


def _csv_member_parts(info: zipfile.ZipInfo) -> list[str] | None:
    """The path parts of a CSV member to take, or None (a folder, hidden, not a CSV)."""
    parts = info.filename.split("/")
    if info.is_dir() or any(_is_hidden(p) for p in parts) or not parts[-1].lower().endswith(CSV_SUFFIX):
        return None
    return parts


def _zip_member(source: SourceFile, info: zipfile.ZipInfo) -> ZipMember:
    return ZipMember(
        source.path,
        info.filename,
        source.size,
        info.file_size,
        header_offset=info.header_offset,
        compress_size=info.compress_size,
        crc=info.CRC,
        method=info.compress_type,
        encrypted=bool(info.flag_bits & 0x1),
    )


def _duplicate_member(taken: list[tuple[zipfile.ZipInfo, list[str]]]) -> str | None:
    """Two CSV members at one path ("a.csv" twice, or "x/a.csv" and "x//a.csv") would be two sources
    on one key: the archive is refused, as such sources are."""
    seen: set[str] = set()
    for _, parts in taken:
        path = "/".join(p for p in parts if p)
        if path in seen:
            return (
                f"zip archive holds two members named {path} (they would overwrite each other on one "
                "key): refused"
            )
        seen.add(path)
    return None


def _unreadable_zip(path: Path, exc: Exception) -> str:
    """Why an archive does not open: not a zip at all (by its first bytes), or a broken one."""
    try:
        with open(path, "rb") as file:
            head = file.read(4)
    except OSError:
        head = b"PK"  # the error itself says what is wrong
    if not head:
        return "not a zip archive: named .zip, but it is empty"
    if not head.startswith(ZIP_SIGNATURES):
        return f"not a zip archive: named .zip, but it starts with {head.hex(' ')}"
    return f"not a readable zip archive: {exc}"


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
            "(the target is --bucket); download remote objects first"
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


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index}/{self.count}: need 0 <= INDEX < COUNT")

    def owns(self, source: SourceFile) -> bool:
        """Stable across machines and runs: a hash of the relative path, not Python's salted hash()."""
        digest = hashlib.sha256(source.relpath.encode("utf-8", "surrogateescape")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index


def parse_shard(text: str) -> Shard:
    index, sep, count = text.partition("/")
    if not sep or not text.isascii() or not index.strip().isdigit() or not count.strip().isdigit():
        raise ValueError(f"shard {text!r}: expected INDEX/COUNT, e.g. 0/4")
    return Shard(int(index), int(count))


def shard_from_environment(env: dict[str, str]) -> Shard | None:
    """Kubernetes Indexed Jobs and AWS Batch array jobs say which worker this is."""
    if "JOB_COMPLETION_INDEX" in env:
        count = _first_set(env, "ASYNC_INGEST_SHARD_COUNT", "JOB_COMPLETIONS")
        if count:
            return _env_shard(env, "JOB_COMPLETION_INDEX", count)
    if "AWS_BATCH_JOB_ARRAY_INDEX" in env:
        size = _first_set(env, "AWS_BATCH_JOB_ARRAY_SIZE", "ASYNC_INGEST_SHARD_COUNT")
        if size:
            return _env_shard(env, "AWS_BATCH_JOB_ARRAY_INDEX", size)
    return None


def _first_set(env: dict[str, str], *names: str) -> str | None:
    """The name of the first variable set to a non-empty value."""
    return next((name for name in names if env.get(name)), None)


def _env_int(env: dict[str, str], name: str) -> int:
    text = env[name].strip()
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"{name}={env[name]!r}: expected a whole number >= 0")
    return int(text)


def _env_shard(env: dict[str, str], index_name: str, count_name: str) -> Shard:
    """The shard the variables name; an error names them, as the user set them."""
    index, count = _env_int(env, index_name), _env_int(env, count_name)
    if count < 1 or index >= count:
        raise ValueError(f"{index_name}={index}, {count_name}={count}: need 0 <= index < count")
    return Shard(index, count)

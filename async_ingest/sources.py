"""Finding the CSV files to ingest (walk the SOURCE arguments, stat each file, shard the list) and
reading them. Reads are blocking calls, made on worker threads by the pipeline: one hand-off per
step (sample a file, fill a part), not one per read."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

CSV_SUFFIX = ".csv"


class SourceError(ValueError):
    """A SOURCE argument cannot be used (missing, unreadable, nothing to ingest)."""


@dataclass(frozen=True, slots=True)  # one per file found: no __dict__ each
class SourceFile:
    path: Path  # as the user can find it (relative to cwd if it was given relative)
    reldir: str  # folder relative to the SOURCE folder it was found under ("" for given files)
    size: int
    mtime_ns: int

    @property
    def relpath(self) -> str:
        return f"{self.reldir}/{self.path.name}" if self.reldir else self.path.name


class SourceChanged(RuntimeError):
    """The file changed (size or modification time) while it was being read."""


def read_windows(source: SourceFile, offsets: list[int], window: int) -> list[bytes]:
    """The bytes at each offset, window bytes each (the whole file if offsets is just [0] and the
    file is no larger than the windows would be)."""
    with open(source.path, "rb") as reader:
        if offsets == [0]:
            return [reader.read(source.size)]
        windows = []
        for offset in offsets:
            reader.seek(offset)
            windows.append(reader.read(window))
        return windows


def read_region(source: SourceFile, offset: int, length: int) -> bytes:
    """length bytes centred on offset."""
    with open(source.path, "rb") as reader:
        reader.seek(max(0, offset - length // 2))
        return reader.read(length)


class SourceReader:
    """A source file as the part filler reads it: opened unbuffered at the first read (so reads go
    straight into part buffers), closed at the end, then checked against what was listed."""

    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self._file: io.FileIO | None = None
        self._done = False

    def readinto(self, buffer: memoryview, /) -> int:
        if self._file is None:
            if self._done:
                raise ValueError("read after close")
            self._file = io.FileIO(self.source.path, "rb")
        return self._file.readinto(buffer) or 0

    def close(self) -> None:
        self._done = True
        if self._file is not None:
            self._file.close()
            self._file = None

    def check_unchanged(self, bytes_read: int) -> None:
        """Raise SourceChanged if the file is not, or no longer, the one listed."""
        size = self.source.size
        stat = os.stat(self.source.path)
        if bytes_read != size or stat.st_size != size:
            raise SourceChanged(
                f"changed while being read (size {size} -> {stat.st_size} bytes, {bytes_read} read); "
                "nothing was uploaded"
            )
        if stat.st_mtime_ns != self.source.mtime_ns:
            raise SourceChanged("changed while being read (modification time changed); nothing was uploaded")


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
    return SourceFile(path=path, reldir=reldir, size=st.st_size, mtime_ns=st.st_mtime_ns)


def walk_folder(root: Path, *, follow_symlinks: bool = False) -> list[SourceFile]:
    """Every *.csv below root (case-insensitive), hidden files and folders skipped, sorted.

    Symbolic links that lead outside root are skipped unless follow_symlinks: a link in a shared
    export folder must not be a way to upload files from elsewhere on the machine.
    """
    found: list[SourceFile] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=follow_symlinks):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d for d in dirnames if not _is_hidden(d) and (follow_symlinks or _inside(here / d, root))
        )
        reldir = here.relative_to(root).as_posix()  # one string shared by the folder's files
        reldir = "" if reldir == "." else reldir
        for name in sorted(filenames):
            path = here / name
            if _is_hidden(name) or not name.lower().endswith(CSV_SUFFIX):
                continue
            if path.is_symlink() and not follow_symlinks and not _inside(path, root):
                continue
            if not path.is_file():
                continue
            found.append(_stat(path, reldir))
    return found


def find_sources(arguments: list[Path], *, follow_symlinks: bool = False) -> list[SourceFile]:
    """Files given are taken as they are (whatever their suffix); folders are walked for CSVs."""
    sources: list[SourceFile] = []
    seen: set[Path] = set()
    for argument in arguments:
        if not argument.exists():
            raise SourceError(f"{argument}: no such file or directory")
        if argument.is_dir():
            candidates = walk_folder(argument, follow_symlinks=follow_symlinks)
        elif argument.is_file():
            candidates = [_stat(argument, "")]
        else:
            raise SourceError(f"{argument}: not a regular file or directory")
        for source in candidates:
            real = source.path.resolve()
            if real not in seen:
                seen.add(real)
                sources.append(source)
    if not sources:
        shown = ", ".join(str(a) for a in arguments)
        raise SourceError(f"no CSV files found in {shown}")
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
    if not sep or not index.strip().isdigit() or not count.strip().isdigit():
        raise ValueError(f"shard {text!r}: expected INDEX/COUNT, e.g. 0/4")
    return Shard(int(index), int(count))


def shard_from_environment(env: dict[str, str]) -> Shard | None:
    """Kubernetes Indexed Jobs and AWS Batch array jobs say which worker this is."""
    if "JOB_COMPLETION_INDEX" in env:
        count = env.get("ASYNC_INGEST_SHARD_COUNT") or env.get("JOB_COMPLETIONS")
        if count:
            return Shard(int(env["JOB_COMPLETION_INDEX"]), int(count))
    if "AWS_BATCH_JOB_ARRAY_INDEX" in env:
        size = env.get("AWS_BATCH_JOB_ARRAY_SIZE") or env.get("ASYNC_INGEST_SHARD_COUNT")
        if size:
            return Shard(int(env["AWS_BATCH_JOB_ARRAY_INDEX"]), int(size))
    return None

"""Zip archives as sources: the listing (each CSV member a source of its own) and the reading of
one member, both bounded against decompression bombs.

Zip members are read here, not through zipfile: zipfile inflates bzip2 and LZMA members with no
output bound (an 899-byte member took 2 GB), trusts the declared size to stop (a member that goes on
past it is cut there), and each ZipFile() parses the whole central directory again (quadratic over
the members of one archive). Listing parses the directory once; each member is then read from its
local header on, through a decompressor bounded like the other formats (compressed.py's streams).

Separate from compressed.py (a whole compressed file) and walk.py (the folders): an archive is a
small file system of its own, with its own refusals (duplicate member names, encrypted or unknown
methods, a bound over the whole archive). It does not know SourceFile: walk.py makes the sources.
"""

from __future__ import annotations

import dataclasses
import io
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from async_ingest.sources.compressed import (
    CSV_SUFFIX,
    DECOMPRESS_ERRORS,
    DEFAULT_MAX_EXPANDED_SIZE,
    MAX_EXPANDED_OPTION,
    MAX_RATIO,
    OUTPUT_CHUNK,
    RATIO_FLOOR,
    READ_BLOCK,
    Bz2Stream,
    CompressedSourceError,
    ExpandedOutput,
    Stream,
    ZlibStream,
    expanded_past,
)

ZIP_SUFFIX = ".zip"  # each CSV member is a source of its own
ZIP_STORED, ZIP_DEFLATED, ZIP_BZIP2 = 0, 8, 12
ZIP_METHODS = {ZIP_STORED: "stored", ZIP_DEFLATED: "deflate", ZIP_BZIP2: "bzip2"}  # the ones read
# Other methods by name, for the refusal (APPNOTE.TXT 4.4.5).
OTHER_ZIP_METHODS = {9: "deflate64", 14: "LZMA", 93: "zstd", 95: "xz", 96: "JPEG", 97: "WavPack", 98: "PPMd"}
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zipfile's structFileHeader: 30 bytes
_LOCAL_SIGNATURE = b"PK\x03\x04"
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")  # a member, an empty archive, spanned


def zip_method_name(method: int) -> str:
    return ZIP_METHODS.get(method) or OTHER_ZIP_METHODS.get(method) or f"method {method}"


@dataclass(frozen=True, slots=True)
class ZipMember:
    """Where a source inside a zip archive is, as its central directory says (read once, at listing)."""

    archive: Path
    name: str  # its path inside the archive, e.g. "2024/movies.csv"
    archive_size: int
    expanded_size: int  # as the archive declares it: reading more is refused, less is corrupt
    header_offset: int = 0  # of its local header in the archive
    compress_size: int = 0
    crc: int = 0
    method: int = ZIP_DEFLATED
    archive_expanded: int = 0  # what all the archive's CSV members declare together
    encrypted: bool = False


class _StoredStream:
    """A stored member: its bytes as they are, limit bytes at a time."""

    eof = False  # a stored member ends where its compressed size says
    unused = b""

    def __init__(self) -> None:
        self._pending = b""
        self.needs_input = True

    def decompress(self, data: bytes, limit: int) -> bytes:
        pending = self._pending + data if self._pending else data
        out, self._pending = pending[:limit], pending[limit:]
        self.needs_input = not self._pending
        return out


def _member_stream(method: int) -> Stream:
    if method == ZIP_DEFLATED:
        return ZlibStream(-15)  # raw deflate
    if method == ZIP_BZIP2:
        return Bz2Stream()
    return _StoredStream()


class ZipMemberReader(ExpandedOutput):
    """readinto() of one member of a zip archive, decompressed as it is read, from its local header
    on (the archive is opened once per member, its directory never parsed again).

    Refused before a byte is read: a method other than stored, deflate and bzip2; an encrypted
    member; a declared size beyond max_expanded, or MAX_RATIO times the compressed size; an archive
    whose CSV members declare more than max_expanded together. While reading: output past the
    declared size (or max_expanded) is refused, output short of it or a CRC-32 that does not match is
    corrupt. Each decompress call makes at most OUTPUT_CHUNK bytes, whatever the method."""

    def __init__(
        self,
        member: ZipMember,
        max_expanded: int = DEFAULT_MAX_EXPANDED_SIZE,
        limit_name: str = MAX_EXPANDED_OPTION,
    ) -> None:
        self.member = member
        self.name = member.name
        self.max_expanded = max_expanded
        self.limit_name = limit_name
        self.expanded = 0
        self.compressed_read = 0  # of the member's compressed bytes
        self._file: io.FileIO | None = None
        self._stream: Stream | None = None
        self._data_start = 0
        self._crc = 0
        self._output = b""
        self._given = 0
        self._ended = False
        self._closed = False

    def _open(self) -> Stream:
        if self._closed:
            raise ValueError("read after close")
        member = self.member
        refuse_member(member, self.max_expanded)
        self._file = io.FileIO(member.archive, "rb")
        self._file.seek(member.header_offset)
        header = self._file.read(_LOCAL_HEADER.size) or b""
        if len(header) < _LOCAL_HEADER.size or not header.startswith(_LOCAL_SIGNATURE):
            offset = member.header_offset
            raise CompressedSourceError(
                f"corrupt zip member {self.name}: no local header at archive byte offset {offset}"
            )
        name_length, extra_length = _LOCAL_HEADER.unpack(header)[10:12]
        self._data_start = member.header_offset + _LOCAL_HEADER.size + name_length + extra_length
        self._file.seek(self._data_start)
        return _member_stream(member.method)

    def _more(self, want: int) -> bool:
        """Decompress some more into _output; False at the member's end (sizes and CRC checked)."""
        if self._ended:
            return False
        stream = self._stream = self._stream or self._open()
        if stream.eof:
            return self._end()
        data = b""
        if stream.needs_input:
            data = self._read_block()
        try:
            out = stream.decompress(data, min(max(want, READ_BLOCK), OUTPUT_CHUNK))
        except DECOMPRESS_ERRORS as exc:
            raise CompressedSourceError(
                f"corrupt zip member {self.name} before archive byte offset {self._offset()}: {exc}"
            ) from None
        if not out and not data and stream.needs_input and not stream.eof:
            if self.member.method == ZIP_STORED:
                return self._end()
            raise CompressedSourceError(
                f"truncated zip member {self.name}: its data ends at archive byte offset {self._offset()}"
            )
        self._count(out)
        self._output, self._given = out, 0
        return True

    def _read_block(self) -> bytes:
        assert self._file is not None
        left = self.member.compress_size - self.compressed_read
        if left <= 0:
            return b""
        block = self._file.read(min(READ_BLOCK, left)) or b""
        if not block:
            raise CompressedSourceError(
                f"truncated zip member {self.name}: the archive ends at byte offset {self._offset()}"
            )
        self.compressed_read += len(block)
        return block

    def _count(self, out: bytes) -> None:
        self.expanded += len(out)
        self._crc = zlib.crc32(out, self._crc)
        if self.expanded > self.member.expanded_size:
            raise CompressedSourceError(
                f"zip member {self.name} expanded past its declared size ({self.member.expanded_size} "
                "bytes): refused as a decompression bomb"
            )
        if self.expanded > self.max_expanded:
            raise expanded_past(self.max_expanded, self.limit_name)

    def _end(self) -> bool:
        self._ended = True
        if self.expanded != self.member.expanded_size:
            raise CompressedSourceError(
                f"corrupt zip member {self.name}: {self.expanded} bytes, not the {self.member.expanded_size} "
                "its archive declares"
            )
        if self._crc != self.member.crc:
            raise CompressedSourceError(f"corrupt zip member {self.name}: its CRC-32 does not match")
        return False

    def _offset(self) -> int:
        return self._data_start + self.compressed_read

    def close(self) -> None:
        self._closed = True
        if self._file is not None:
            self._file.close()
            self._file = None


def member_refusal(member: ZipMember) -> str | None:
    """Why a member cannot be read at all (said at listing), or None."""
    if member.encrypted:
        return "encrypted zip member: refused (no password support)"
    if member.method not in ZIP_METHODS:
        return (
            f"zip member compressed with {zip_method_name(member.method)}: refused (stored, deflate "
            "and bzip2 members are read)"
        )
    return None


def refuse_member(member: ZipMember, max_expanded: int) -> None:
    """CompressedSourceError for a member that cannot be read or declares a bomb's sizes, alone or
    with the other members of its archive."""
    refusal = member_refusal(member)
    if refusal is not None:
        raise CompressedSourceError(f"zip member {member.name}: {refusal}")
    if member.expanded_size > max_expanded:
        raise CompressedSourceError(
            f"zip member {member.name} expands to {member.expanded_size} bytes, beyond "
            f"{{opt:max_expanded_size}} ({max_expanded} bytes): refused as a decompression bomb"
        )
    if over_ratio(member):
        raise CompressedSourceError(
            f"zip member {member.name} expands more than {MAX_RATIO} times ({member.expanded_size} bytes "
            f"from {member.compress_size}): refused as a decompression bomb"
        )
    if member.archive_expanded > max_expanded:
        raise CompressedSourceError(
            f"zip archive's CSV members expand to {member.archive_expanded} bytes together, beyond "
            f"{{opt:max_expanded_size}} ({max_expanded} bytes, which bounds a whole archive): refused"
        )


def over_ratio(member: ZipMember) -> bool:
    """A member declaring more than MAX_RATIO times its compressed size (beyond RATIO_FLOOR)."""
    size = member.expanded_size
    return size > RATIO_FLOOR and size > MAX_RATIO * max(1, member.compress_size)


def archive_refusal(archive_size: int, declared_total: int) -> str | None:
    """Why an archive is refused whole for what its members declare together (a member's own ratio
    misses overlapping members, which share one compressed stream), or None."""
    if declared_total > RATIO_FLOOR and declared_total > MAX_RATIO * max(1, archive_size):
        return (
            f"its CSV members expand more than {MAX_RATIO} times the archive together ({declared_total} "
            f"bytes from {archive_size}): refused as a decompression bomb"
        )
    return None


class ArchiveRefused(Exception):
    """An archive refused whole: it does not open, two CSV members share a path, or its members
    declare a bomb's sizes together."""


def is_archive(name: str) -> bool:
    return name.lower().endswith(ZIP_SUFFIX)


def list_members(archive: Path, archive_size: int) -> list[tuple[list[str], ZipMember]]:
    """A .zip's CSV members with their path parts (folders, hidden and non-CSV members left out),
    from its central directory, read once, here. ArchiveRefused for an archive that does not open,
    holds two CSV members at one path (one would overwrite the other on one key) or whose members
    declare a bomb's sizes together. A member that cannot be read alone (member_refusal: encrypted,
    a method not read) is listed: the caller reports it alone."""
    try:
        with zipfile.ZipFile(archive) as opened:
            infos = opened.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ArchiveRefused(_unreadable_zip(archive, exc)) from None
    taken = [(info, parts) for info in infos if (parts := _csv_member_parts(info)) is not None]
    listed = [_zip_member(archive, archive_size, info) for info, _ in taken]
    # Members refused on their own fail alone; the others may still be a bomb together.
    total = sum(m.expanded_size for m in listed if member_refusal(m) is None and not over_ratio(m))
    refusal = _duplicate_member(taken) or archive_refusal(archive_size, total)
    if refusal is not None:
        raise ArchiveRefused(refusal)
    return [
        (parts, dataclasses.replace(member, archive_expanded=total))
        for (_, parts), member in zip(taken, listed, strict=True)
    ]


def _csv_member_parts(info: zipfile.ZipInfo) -> list[str] | None:
    """The path parts of a CSV member to take, or None (a folder, hidden as the walk skips hidden
    names, not a CSV)."""
    parts = info.filename.split("/")
    if info.is_dir() or any(p.startswith(".") for p in parts) or not parts[-1].lower().endswith(CSV_SUFFIX):
        return None
    return parts


def _zip_member(archive: Path, archive_size: int, info: zipfile.ZipInfo) -> ZipMember:
    return ZipMember(
        archive,
        info.filename,
        archive_size,
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

import codecs
import hashlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from async_ingest.pipeline.parts import (
    MAX_PARTS,
    MIN_PART_SIZE,
    PartFiller,
    multipart_etag,
    plan_part_size,
    same_etag,
)
from async_ingest.s3.checksums import CHECKSUMS
from async_ingest.transform.transcode import DecodeFailure, Transcoder
from async_ingest.units import GiB, MiB


class ShortReads:
    """A source whose reads stop at arbitrary points, as reads of a file may; counts what is read."""

    def __init__(self, data: bytes, read_sizes: list[int]) -> None:
        self._data = data
        self._position = 0
        self._sizes = itertools.cycle(read_sizes or [len(data) + 1])
        self.reads = 0

    def readinto(self, buffer: memoryview) -> int:
        size = min(len(buffer), max(1, next(self._sizes)), len(self._data) - self._position)
        buffer[:size] = self._data[self._position : self._position + size]
        self._position += size
        self.reads += 1
        return size


def fill_all(filler: PartFiller, buffer_size: int) -> list[bytes]:
    parts: list[bytes] = []
    while True:
        part = filler.fill(bytearray(buffer_size))
        assert part.digest == CHECKSUMS["crc64nvme"].digest(part.data) and part.md5 is None
        parts.append(bytes(part.data))
        if filler.exhausted:
            return parts


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(max_size=3000),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16-le", "shift_jis"]),
    part_size=st.integers(min_value=1, max_value=700),
    read_sizes=st.lists(st.integers(min_value=1, max_value=900), max_size=6),
)
def test_parts_are_fixed_size_and_rejoin_to_the_utf8_text(
    text: str, encoding: str, part_size: int, read_sizes: list[int]
) -> None:
    source = text.encode(encoding, errors="ignore")
    expected = source.decode(encoding).encode("utf-8")
    bom = codecs.BOM_UTF8 if encoding == "utf-8-sig" else b""
    transcoder = Transcoder(encoding.removesuffix("-sig"), bom=bom)
    filler = PartFiller(ShortReads(source, read_sizes), transcoder, part_size, len(source))
    parts = fill_all(filler, part_size)
    assert b"".join(parts) == expected
    assert all(len(p) == part_size for p in parts[:-1])
    assert 0 < len(parts[-1]) <= part_size or expected == b""
    assert filler.sha256 is None  # only with --checksum sha256
    assert transcoder.bytes_in == len(source)


def test_utf8_is_read_straight_into_the_part_buffer() -> None:
    source = "ação|€\r\n".encode() * 1000
    transcoder = Transcoder("utf-8")
    reader = ShortReads(source, [])
    filler = PartFiller(reader, transcoder, len(source), len(source))
    buffer = bytearray(len(source))
    part = filler.fill(buffer)
    assert part.buffer is buffer and part.data is buffer  # the whole buffer: no copy, no slice
    assert bytes(buffer) == source and reader.reads == 1 and filler.exhausted


def test_no_more_than_the_source_size_is_read() -> None:
    reader = ShortReads(b"a|b\n" * 100, [7])
    filler = PartFiller(reader, Transcoder("utf-8"), 1000, 40)  # the file grew after it was listed
    parts = fill_all(filler, 1000)
    assert parts == [b"a|b\n" * 10]


def test_a_bad_byte_in_a_later_part_is_reported_at_its_offset() -> None:
    source = b"x" * 10 + "é".encode() + b"y" * 5 + b"\xff" + b"z" * 3
    filler = PartFiller(ShortReads(source, [4]), Transcoder("utf-8"), 8, len(source))
    filler.fill(bytearray(8))
    filler.fill(bytearray(8))
    with pytest.raises(DecodeFailure) as failure:
        filler.fill(bytearray(8))
    assert failure.value.offset == 17


def test_a_sequence_cut_by_the_end_of_the_file_fails() -> None:
    source = b"abc" + "é".encode()[:1]
    filler = PartFiller(ShortReads(source, []), Transcoder("utf-8"), 8, len(source))
    with pytest.raises(DecodeFailure) as failure:
        filler.fill(bytearray(8))
    assert failure.value.offset == 3


def test_empty_source_gives_one_empty_part() -> None:
    filler = PartFiller(ShortReads(b"", []), Transcoder("utf-8"), 5, 0)
    assert fill_all(filler, 5) == [b""]


def test_part_size_grows_to_fit_ten_thousand_parts() -> None:
    assert plan_part_size(1 * GiB, "utf-8") == 8 * MiB
    # 100 GiB of cp1252 could become 300 GiB of UTF-8.
    size = plan_part_size(100 * GiB, "cp1252")
    assert size % MiB == 0
    assert size * MAX_PARTS >= 300 * GiB
    assert plan_part_size(10, "utf-8", requested=MIN_PART_SIZE) == MIN_PART_SIZE


def test_multipart_etag_is_md5_of_part_md5s() -> None:
    parts = [b"a" * 10, b"b" * 3]
    digests = [hashlib.md5(p).digest() for p in parts]
    expected = hashlib.md5(digests[0] + digests[1]).hexdigest() + "-2"
    assert multipart_etag(digests) == f'"{expected}"'
    assert same_etag(f'"{expected.upper()}"', expected)


def test_only_what_the_checksum_needs_is_computed() -> None:
    """md5: the part's MD5 is its checksum; sha256 asked: the whole object's too; resume: the MD5 of
    the parts to compare with ETags, and only those."""
    data = b"x" * 25
    md5_filler = PartFiller(ShortReads(data, []), Transcoder("utf-8"), 10, len(data), CHECKSUMS["md5"])
    first = md5_filler.fill(bytearray(10))
    assert first.digest == first.md5 == hashlib.md5(data[:10]).digest()
    whole = PartFiller(
        ShortReads(data, []), Transcoder("utf-8"), 10, len(data), CHECKSUMS["sha256"], whole_sha256=True
    )
    digests = [whole.fill(bytearray(10)).digest for _ in range(3)]
    assert digests[2] == hashlib.sha256(data[20:]).digest()
    assert whole.sha256 is not None and whole.sha256.hexdigest() == hashlib.sha256(data).hexdigest()
    resumed = PartFiller(ShortReads(data, []), Transcoder("utf-8"), 10, len(data), md5_parts=[2])
    md5s = [resumed.fill(bytearray(10)).md5 for _ in range(3)]
    assert md5s == [None, hashlib.md5(data[10:20]).digest(), None]

import hashlib
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from async_ingest.parts import (
    MAX_PARTS,
    MIN_PART_SIZE,
    PartCutter,
    cut,
    multipart_etag,
    plan_part_size,
    same_etag,
)
from async_ingest.units import GiB, MiB


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=5000),
    part_size=st.integers(min_value=1, max_value=700),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=20),
)
def test_parts_are_fixed_size_and_rejoin_to_the_stream(data: bytes, part_size: int, cuts: list[int]) -> None:
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    chunks = [data[a:b] for a, b in itertools.pairwise(bounds)]
    parts = cut(chunks, part_size)
    assert b"".join(parts) == data
    assert all(len(p) == part_size for p in parts[:-1])
    assert 0 < len(parts[-1]) <= part_size or data == b""


def test_a_chunk_of_exactly_one_part_is_not_copied() -> None:
    cutter = PartCutter(4)
    chunk = b"abcd"
    (part,) = cutter.feed(chunk)
    assert part is chunk


def test_empty_stream_gives_one_empty_part() -> None:
    assert cut([], 5) == [b""]


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

"""Hostile and mislabelled compressed sources and zip archives, end to end against the real SeaweedFS:
what lands (nothing, for the refused file), the exit code, the one-line message, no open upload, and
memory that stays bounded (the child's peak RSS) while a bomb is refused."""

from __future__ import annotations

import bz2
import json
import random
import struct
import subprocess
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zstandard

from tests.conftest import REPO, CliResult, cli_env, list_keys, open_uploads, read_object, run_cli

pytestmark = pytest.mark.slow  # a real S3 server, runs of the command: not in the quick subset

MiB = 1 << 20


def upload(
    tmp_path: Path, s3_server: Any, bucket: str, prefix: str, source: Path, *options: str
) -> CliResult:
    return run_cli(
        *upload_args(tmp_path, bucket, prefix, source, *options), env=cli_env(s3_server.endpoint_url)
    )


def upload_args(tmp_path: Path, bucket: str, prefix: str, source: Path, *options: str) -> list[str]:
    return [
        str(source),
        "--bucket",
        bucket,
        "--key-template",
        prefix + "/{reldir}/{filename}",
        "--report",
        str(tmp_path / "report.json"),
        "--no-manifest",
        *options,
    ]


# Runs the CLI as a grandchild and reports its peak RSS: resource.getrusage(RUSAGE_CHILDREN) of a
# fresh process covers that one run only (not the SeaweedFS server, nor earlier runs of this session).
_MEASURE = """
import json, resource, subprocess, sys
proc = subprocess.run([sys.executable, "-m", "async_ingest", *sys.argv[1:]], capture_output=True, text=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps([proc.returncode, proc.stdout, proc.stderr, peak]))
"""


def run_measured(args: list[str], env: dict[str, str]) -> tuple[CliResult, int]:
    """The CLI's result and its peak resident memory in bytes."""
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    code, stdout, stderr, peak = json.loads(out.stdout)
    return CliResult(code, stdout, stderr), peak


def varied_csv(size: int, seed: int = 1) -> bytes:
    """ASCII CSV rows that compress about 3x, like real exports."""
    rng = random.Random(seed)
    rows, total = [], 0
    while total < size:
        row = f"{rng.randrange(10**9)},{rng.choice(['alpha', 'beta', 'gamma'])},{rng.random():.6f}\n"
        rows.append(row)
        total += len(row)
    return "".join(rows).encode()[:size]


def gzip_bytes(data: bytes, level: int = 9) -> bytes:
    packer = zlib.compressobj(level, zlib.DEFLATED, 31)
    return packer.compress(data) + packer.flush()


def deflate_raw(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


@dataclass
class Raw:
    """A zip member written by hand: its stored bytes and what the headers declare about them."""

    name: str
    payload: bytes  # as stored (compressed)
    method: int
    crc: int
    size: int  # the declared expanded size


def build_zip(members: list[Raw], aliases: dict[str, str] | None = None) -> bytes:
    """A zip archive as the headers say, whatever the data holds; aliases: more central directory
    entries (name -> the member whose local header and data they share: overlapping members)."""
    out, offsets = bytearray(), {}
    for raw in members:
        offsets[raw.name] = len(out)
        name = raw.name.encode()
        out += struct.pack(
            "<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, raw.method, 0, 33, raw.crc, len(raw.payload), raw.size,
            len(name), 0,
        )  # fmt: skip
        out += name + raw.payload
    entries = [(raw, raw.name) for raw in members]
    by_name = {raw.name: raw for raw in members}
    entries += [(by_name[target], alias) for alias, target in (aliases or {}).items()]
    directory = bytearray()
    for raw, name_text in entries:
        name = name_text.encode()
        directory += struct.pack(
            "<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 0, 20, 0, 0, raw.method, 0, 33, raw.crc, len(raw.payload),
            raw.size, len(name), 0, 0, 0, 0, 0, offsets[raw.name],
        )  # fmt: skip
        directory += name
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(directory), len(out), 0
    )
    return bytes(out + directory + end)


# ---- item 1: a source expanding past --max-expanded-size is refused, not cut ----------------------


@pytest.mark.parametrize(
    "data",
    [
        b"1,helo\n" * (3 * MiB),  # ~21 MiB in ~32 KB of gzip: read whole in one block
        varied_csv(24 * MiB),  # several MiB of gzip: still being read when the bound is reached
    ],
    ids=["one-block", "still-reading"],
)
def test_gzip_expanding_past_max_expanded_size_is_refused_whole(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, data: bytes
) -> None:
    indir = tmp_path / "in"
    indir.mkdir()
    (indir / "t.csv.gz").write_bytes(gzip_bytes(data))
    (indir / "fits.csv.gz").write_bytes(gzip_bytes(data[: 5 * MiB]))
    result = upload(tmp_path, s3_server, shared_bucket, prefix, indir, "--max-expanded-size", "10MiB")
    assert result.returncode == 1, result.output
    assert "t.csv.gz: expanded past --max-expanded-size (10485760 bytes): refused" in result.output
    assert "changed while being read" not in result.output
    assert list_keys(s3, shared_bucket, prefix) == [f"{prefix}/fits.csv"]
    assert read_object(s3, shared_bucket, f"{prefix}/fits.csv") == data[: 5 * MiB]
    assert open_uploads(s3, shared_bucket, prefix) == []


def test_a_source_exactly_at_max_expanded_size_lands(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    data = varied_csv(MiB, seed=4)
    source = tmp_path / "exact.csv.zst"
    source.write_bytes(zstandard.ZstdCompressor().compress(data))
    result = upload(tmp_path, s3_server, shared_bucket, prefix, source, "--max-expanded-size", str(MiB))
    assert result.returncode == 0, result.output
    assert read_object(s3, shared_bucket, f"{prefix}/exact.csv") == data


# ---- item 2: two members at one path ---------------------------------------------------------------


def test_duplicate_member_names_refuse_the_archive(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    indir = tmp_path / "in"
    indir.mkdir()
    with (
        pytest.warns(UserWarning, match="Duplicate name"),
        zipfile.ZipFile(indir / "dup.zip", "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        archive.writestr("2024/a.csv", b"x\n1\n")
        archive.writestr("2024/a.csv", varied_csv(200_000))
        archive.writestr("b.csv", b"y\n2\n")
    (indir / "plain.csv").write_bytes(b"z\n3\n")
    result = upload(tmp_path, s3_server, shared_bucket, prefix, indir)
    assert result.returncode == 1, result.output
    assert "dup.zip: cannot read: zip archive holds two members named 2024/a.csv" in result.output
    assert list_keys(s3, shared_bucket, prefix) == [f"{prefix}/plain.csv"]
    assert open_uploads(s3, shared_bucket, prefix) == []


# ---- item 6: members that lie about their size; methods; the whole archive's bound ------------------


def test_bzip2_member_understating_its_size_is_refused_in_bounded_memory(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    """256 MiB of zeros in a ~300-byte bzip2 stream, declared as 64 KiB: zipfile inflated it whole
    in one call (an 899-byte member took 2 GB); read here, it is refused at its declared size."""
    indir = tmp_path / "in"
    indir.mkdir()
    payload = bz2.compress(bytes(256 * MiB), 9)
    lie = Raw("zeros.csv", payload, zipfile.ZIP_BZIP2, zlib.crc32(bytes(64 * 1024)), 64 * 1024)
    fine = Raw("fine.csv", b"a,b\n1,2\n", zipfile.ZIP_STORED, zlib.crc32(b"a,b\n1,2\n"), 8)
    (indir / "bomb.zip").write_bytes(build_zip([lie, fine]))
    args = upload_args(tmp_path, shared_bucket, prefix, indir)
    result, peak = run_measured(args, cli_env(s3_server.endpoint_url))
    assert peak < 200 * MiB, f"peak RSS {peak / MiB:.0f} MiB"
    assert result.returncode == 1, result.output
    assert "bomb.zip/zeros.csv: zip member zeros.csv expanded past its declared size (65536 bytes)" in (
        result.output
    )
    assert list_keys(s3, shared_bucket, prefix) == [f"{prefix}/fine.csv"]
    assert open_uploads(s3, shared_bucket, prefix) == []


def test_deflate_member_going_on_past_its_declared_size_is_refused_not_cut(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    """Declared as its first half, with that half's CRC: zipfile stopped there and the CRC matched,
    so half the CSV landed as if whole."""
    data = varied_csv(2 * MiB, seed=7)
    half = data[:MiB]
    lie = Raw("half.csv", deflate_raw(data), zipfile.ZIP_DEFLATED, zlib.crc32(half), len(half))
    source = tmp_path / "cut.zip"
    source.write_bytes(build_zip([lie]))
    result = upload(tmp_path, s3_server, shared_bucket, prefix, source)
    assert result.returncode == 1, result.output
    assert "cut.zip/half.csv: zip member half.csv expanded past its declared size (1048576 bytes)" in (
        result.output
    )
    assert list_keys(s3, shared_bucket, prefix) == []
    assert open_uploads(s3, shared_bucket, prefix) == []


def test_lzma_member_is_refused_by_name_and_the_others_land(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    source = tmp_path / "mixed.zip"
    with zipfile.ZipFile(source, "w") as archive:
        archive.writestr("packed.csv", b"a\n1\n", compress_type=zipfile.ZIP_LZMA)
        archive.writestr("deflated.csv", b"b\n2\n", compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("bzipped.csv", b"c\n3\n", compress_type=zipfile.ZIP_BZIP2)
        archive.writestr("stored.csv", b"d\n4\n", compress_type=zipfile.ZIP_STORED)
    result = upload(tmp_path, s3_server, shared_bucket, prefix, source)
    assert result.returncode == 1, result.output
    assert (
        "mixed.zip/packed.csv: cannot read: zip member compressed with LZMA: refused (stored, deflate and "
        "bzip2 members are read)" in result.output
    )
    assert list_keys(s3, shared_bucket, prefix) == [
        f"{prefix}/bzipped.csv",
        f"{prefix}/deflated.csv",
        f"{prefix}/stored.csv",
    ]
    assert read_object(s3, shared_bucket, f"{prefix}/bzipped.csv") == b"c\n3\n"


def test_members_together_past_max_expanded_size_are_refused(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    """Each member is within --max-expanded-size, all three together are not: the bound is the
    archive's, not each member's."""
    source = tmp_path / "three.zip"
    with zipfile.ZipFile(source, "w", zipfile.ZIP_DEFLATED) as archive:
        for number in range(3):
            archive.writestr(f"m{number}.csv", varied_csv(400 * 1024, seed=number))
    result = upload(tmp_path, s3_server, shared_bucket, prefix, source, "--max-expanded-size", "1MiB")
    assert result.returncode == 1, result.output
    for number in range(3):
        assert (
            f"three.zip/m{number}.csv: zip archive's CSV members expand to 1228800 bytes together, beyond "
            "--max-expanded-size (1048576 bytes" in result.output
        )
    assert list_keys(s3, shared_bucket, prefix) == []
    assert open_uploads(s3, shared_bucket, prefix) == []


def test_overlapping_members_are_refused_as_one_bomb(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    """40 directory entries sharing one 2 MiB member's data: each is within its own ratio, together
    they expand ~20,000 times the archive."""
    zeros = bytes(2 * MiB)
    shared = Raw("m00.csv", deflate_raw(zeros), zipfile.ZIP_DEFLATED, zlib.crc32(zeros), len(zeros))
    aliases = {f"m{number:02}.csv": "m00.csv" for number in range(1, 40)}
    indir = tmp_path / "in"
    indir.mkdir()
    (indir / "overlap.zip").write_bytes(build_zip([shared], aliases))
    (indir / "plain.csv").write_bytes(b"z\n3\n")
    result = upload(tmp_path, s3_server, shared_bucket, prefix, indir)
    assert result.returncode == 1, result.output
    assert "overlap.zip: cannot read: its CSV members expand more than 1000 times the archive together" in (
        result.output
    )
    assert list_keys(s3, shared_bucket, prefix) == [f"{prefix}/plain.csv"]


# ---- item 7: memory follows --max-memory whatever --max-expanded-size -------------------------------


def test_large_max_expanded_size_keeps_to_max_memory(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    """Parts were planned for the bound: 2 TiB over 10,000 parts made a ~630 MiB part buffer for a
    source of a few MiB, whatever --max-memory said."""
    data = varied_csv(6 * MiB, seed=3)
    source = tmp_path / "movies.csv.gz"
    source.write_bytes(gzip_bytes(data, 6))
    args = upload_args(tmp_path, shared_bucket, prefix, source, "--max-expanded-size", "2TiB")
    result, peak = run_measured([*args, "--max-memory", "16MiB"], cli_env(s3_server.endpoint_url))
    assert result.returncode == 0, result.output
    assert peak < 200 * MiB, f"peak RSS {peak / MiB:.0f} MiB"
    assert read_object(s3, shared_bucket, f"{prefix}/movies.csv") == data
    assert open_uploads(s3, shared_bucket, prefix) == []


def test_max_expanded_size_beyond_10000_parts_is_a_usage_error(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    source = tmp_path / "x.csv.gz"
    source.write_bytes(gzip_bytes(b"a\n1\n"))
    result = upload(tmp_path, s3_server, shared_bucket, prefix, source, "--max-expanded-size", "20TiB")
    assert result.returncode == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "async-ingest: error: --max-expanded-size 20TiB: above 16.3 TiB, what 10,000 parts of 5 GiB hold "
        "of a source that can triple as UTF-8"
    ]
    assert list_keys(s3, shared_bucket, prefix) == []


# ---- item 14: a file that is not what its suffix says ------------------------------------------------


def test_files_not_what_their_suffix_says_are_named_so(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    indir = tmp_path / "in"
    indir.mkdir()
    for name in ("a.csv.gz", "b.csv.zst", "c.csv.bz2", "d.zip"):
        (indir / name).write_bytes(b"12345678")
    (indir / "e.csv.gz").write_bytes(b"")
    (indir / "good.csv.gz").write_bytes(gzip_bytes(b"x\n1\n"))
    result = upload(tmp_path, s3_server, shared_bucket, prefix, indir)
    assert result.returncode == 1, result.output
    out = result.output
    assert "a.csv.gz: not gzip data: named .gz, but it starts with 31 32 33 34 35 36 37 38" in out
    assert "b.csv.zst: not zstd data: named .zst, but it starts with 31 32" in out
    assert "c.csv.bz2: not bzip2 data: named .bz2, but it starts with 31 32" in out
    assert "d.zip: cannot read: not a zip archive: named .zip, but it starts with 31 32 33 34" in out
    assert "e.csv.gz: not gzip data: named .gz, but it is empty" in out
    assert "truncated" not in out
    assert list_keys(s3, shared_bucket, prefix) == [f"{prefix}/good.csv"]


# ---- item 8: many members (time: bench/zip_members.py) -------------------------------------------------


def test_every_member_of_a_300_member_zip_lands(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    source = tmp_path / "many.zip"
    with zipfile.ZipFile(source, "w", zipfile.ZIP_DEFLATED) as archive:
        for number in range(300):
            archive.writestr(f"d{number % 3}/f{number:03}.csv", f"id,n\n{number},{number * 7}\n")
    result = upload(tmp_path, s3_server, shared_bucket, prefix, source, "--concurrency", "32")
    assert result.returncode == 0, result.output
    keys = list_keys(s3, shared_bucket, prefix)
    assert len(keys) == 300
    assert read_object(s3, shared_bucket, f"{prefix}/d2/f299.csv") == b"id,n\n299,2093\n"

"""Compressed out (--compress gzip|zstd) and compressed in (.csv.gz, .csv.zst, .csv.bz2), end to end
against the real SeaweedFS, read back with the real gzip and zstd tools."""

from __future__ import annotations

import bz2
import gzip
import json
import random
import shutil
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest
import zstandard

from tests.conftest import cli_env, list_keys, open_uploads, read_object, run_cli

pytestmark = pytest.mark.slow  # a real S3 server, runs of the command: not in the quick subset


def cp1252_csv(rows: int, seed: int = 1) -> bytes:
    """A Windows-1252 CSV that compresses like real exports (varied numbers, accented words)."""
    rng = random.Random(seed)
    words = ["Coração", "Ação", "café", "naïve", "Größe", "€uro", "Drama", "Comédia"]
    lines = ["id;title;genre;price"]
    for i in range(rows):
        lines.append(f"{i};{rng.choice(words)} {rng.randrange(10**6)};{rng.choice(words)};{rng.random():.4f}")
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


def upload(tmp_path: Path, s3_server: Any, bucket: str, prefix: str, source: Path, *options: str) -> Any:
    return run_cli(
        source,
        "--bucket",
        bucket,
        "--key-template",
        prefix + "/{reldir}/{filename}",
        "--part-size",
        "5MiB",
        "--report",
        tmp_path / "report.json",
        "--no-manifest",
        *options,
        env=cli_env(s3_server.endpoint_url),
    )


def tool_decompress(tool: str, data: bytes, tmp_path: Path) -> bytes:
    """What `gzip -d` / `zstd -d` make of the stored bytes, as a user would run them after `aws s3 cp`."""
    if shutil.which(tool) is None:
        return (
            gzip.decompress(data)
            if tool == "gzip"
            else zstandard.ZstdDecompressor().decompressobj().decompress(data)
        )
    return subprocess.run([tool, "-d", "-c"], input=data, capture_output=True, check=True).stdout


@pytest.mark.parametrize(
    ("name", "levels", "suffix", "content_type"),
    [
        ("gzip", (), ".gz", "application/gzip"),  # level 2: ISA-L
        ("gzip", ("--compress-level", "1"), ".gz", "application/gzip"),  # ISA-L
        ("gzip", ("--compress-level", "6"), ".gz", "application/gzip"),  # zlib
        ("zstd", (), ".zst", "application/zstd"),
    ],
)
def test_compressed_object_round_trips_through_the_real_tool(
    s3_server: Any,
    s3: Any,
    shared_bucket: str,
    prefix: str,
    tmp_path: Path,
    name: str,
    levels: tuple[str, ...],
    suffix: str,
    content_type: str,
) -> None:
    source = tmp_path / "movies.csv"
    raw = cp1252_csv(300_000)  # ~12 MiB of UTF-8: several 5 MiB parts of compressed output? see below
    source.write_bytes(raw)
    result = upload(tmp_path, s3_server, shared_bucket, prefix, source, "--compress", name, *levels)
    assert result.returncode == 0, result.output
    key = f"{prefix}/movies.csv{suffix}"
    assert list_keys(s3, shared_bucket, prefix) == [key]
    stored = read_object(s3, shared_bucket, key)
    expected = raw.decode("cp1252").encode("utf-8")
    assert tool_decompress(name, stored, tmp_path) == expected
    head = s3.head_object(Bucket=shared_bucket, Key=key)
    assert head["ContentType"] == content_type
    assert head["Metadata"]["compression"] == name
    assert head["ContentLength"] == len(stored) < len(expected) // 2
    entry = json.loads((tmp_path / "report.json").read_text())["files"][0]
    assert entry["bytes_written"] == len(stored)
    assert entry["bytes_uncompressed"] == len(expected)
    assert entry["rows"] == 300_000  # the CSV check saw the text, not the compressed bytes


def test_compressed_multipart_object_has_full_parts_and_checksum(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    source = tmp_path / "big.csv"
    # Random digits compress ~2x only: ~13 MiB of output, so three parts, the first two full.
    rng = random.Random(7)
    raw = b"".join(b"%d,%d,%d\n" % (i, rng.randrange(10**12), rng.randrange(10**12)) for i in range(900_000))
    source.write_bytes(raw)
    result = upload(
        tmp_path, s3_server, shared_bucket, prefix, source, "--compress", "gzip", "--compress-level", "1"
    )
    assert result.returncode == 0, result.output
    key = f"{prefix}/big.csv.gz"
    stored = read_object(s3, shared_bucket, key)
    assert gzip.decompress(stored) == raw
    entry = json.loads((tmp_path / "report.json").read_text())["files"][0]
    assert entry["parts"] >= 2
    head = s3.head_object(Bucket=shared_bucket, Key=key, PartNumber=1)
    assert head["ContentLength"] == 5 * 1024 * 1024
    assert entry["checksum"]  # crc64nvme of the stored (compressed) bytes, verified by S3


COMPRESSORS = {
    ".gz": gzip.compress,
    ".zst": lambda data: zstandard.ZstdCompressor(write_checksum=True).compress(data),
    ".bz2": bz2.compress,
}


@pytest.mark.parametrize("suffix", [".gz", ".zst", ".bz2"])
def test_compressed_source_lands_under_the_csv_name_detected_through_compression(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, suffix: str
) -> None:
    indir = tmp_path / "in"
    (indir / "sub").mkdir(parents=True)
    raw = cp1252_csv(200_000, seed=3)  # ~8 MiB of text: parts cut inside the compressed stream
    (indir / "sub" / f"movies.csv{suffix}").write_bytes(COMPRESSORS[suffix](raw))
    result = upload(tmp_path, s3_server, shared_bucket, prefix, indir)
    assert result.returncode == 0, result.output
    key = f"{prefix}/sub/movies.csv"
    assert list_keys(s3, shared_bucket, prefix) == [key]
    assert read_object(s3, shared_bucket, key) == raw.decode("cp1252").encode("utf-8")
    entry = json.loads((tmp_path / "report.json").read_text())["files"][0]
    assert entry["source_encoding"] == "cp1252"
    assert entry["rows"] == 200_000


def test_compressed_in_compressed_out(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    source = tmp_path / "movies.csv.gz"
    raw = cp1252_csv(1000)
    source.write_bytes(gzip.compress(raw))
    result = upload(tmp_path, s3_server, shared_bucket, prefix, source, "--compress", "zstd")
    assert result.returncode == 0, result.output
    stored = read_object(s3, shared_bucket, f"{prefix}/movies.csv.zst")
    assert tool_decompress("zstd", stored, tmp_path) == raw.decode("cp1252").encode("utf-8")


def test_corrupt_truncated_and_bomb_sources_fail_alone(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    indir = tmp_path / "in"
    indir.mkdir()
    good = gzip.compress(cp1252_csv(100_000))
    (indir / "good.csv.gz").write_bytes(good)
    (indir / "truncated.csv.gz").write_bytes(good[: len(good) // 2])
    corrupt = bytearray(good)
    corrupt[len(good) // 2 : len(good) // 2 + 64] = b"\xff" * 64
    (indir / "corrupt.csv.gz").write_bytes(bytes(corrupt))
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"0" * (1 << 20)
    (indir / "bomb.csv.gz").write_bytes(b"".join(bomb.compress(zeros) for _ in range(300)) + bomb.flush())
    result = upload(tmp_path, s3_server, shared_bucket, prefix, indir, "--max-expanded-size", "200MiB")
    assert result.returncode != 0
    lines = result.output
    assert "truncated.csv.gz: truncated gzip data: ends at compressed byte offset" in lines
    assert "corrupt.csv.gz: corrupt gzip data before compressed byte offset" in lines
    assert "bomb.csv.gz: expands more than 1000 times" in lines or "bomb.csv.gz: expanded past" in lines
    assert "Traceback" not in lines
    assert list_keys(s3, shared_bucket, prefix) == [f"{prefix}/good.csv"]
    assert open_uploads(s3, shared_bucket, prefix) == []


def test_max_expanded_size_refuses_a_source_that_expands_beyond_it(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    source = tmp_path / "movies.csv.zst"
    source.write_bytes(zstandard.ZstdCompressor(write_checksum=True).compress(cp1252_csv(200_000)))
    result = upload(tmp_path, s3_server, shared_bucket, prefix, source, "--max-expanded-size", "1MiB")
    assert result.returncode != 0
    assert "movies.csv.zst: expanded past --max-expanded-size (1048576 bytes): refused" in result.output
    assert list_keys(s3, shared_bucket, prefix) == []
    assert open_uploads(s3, shared_bucket, prefix) == []


def make_zip_with_encrypted_member(path: Path, members: dict[str, bytes], secret: bytes) -> None:
    """members stored (deflated) by zipfile; then secret.csv added encrypted by the real `zip -e`."""
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    work = path.parent.parent / "enc"  # beside the SOURCE folder, not in it
    work.mkdir()
    (work / "secret.csv").write_bytes(secret)
    subprocess.run(["zip", "-q", "-e", "-P", "pw", str(path.resolve()), "secret.csv"], cwd=work, check=True)


@pytest.mark.skipif(shutil.which("zip") is None or shutil.which("unzip") is None, reason="needs zip/unzip")
def test_zip_members_land_as_sources_of_their_own(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    indir = tmp_path / "in"
    indir.mkdir()
    big = cp1252_csv(200_000, seed=5)  # several parts, cut inside the member's deflate stream
    members = {
        "2024/movies.csv": big,
        "2024/q1/sales.CSV": b"a,b\n1,2\n",
        "readme.txt": b"not csv\n",
        "top.csv": b"x\n1\n",
    }
    make_zip_with_encrypted_member(indir / "export.zip", members, b"s,t\n1,2\n")
    listing = subprocess.run(
        ["unzip", "-l", str(indir / "export.zip")], capture_output=True, text=True
    ).stdout
    assert "secret.csv" in listing and "readme.txt" in listing
    result = upload(tmp_path, s3_server, shared_bucket, prefix, indir)
    assert result.returncode != 0  # the encrypted member failed
    assert "export.zip/secret.csv: cannot read: encrypted zip member: refused" in result.output
    assert list_keys(s3, shared_bucket, prefix) == sorted(
        [f"{prefix}/2024/movies.csv", f"{prefix}/2024/q1/sales.CSV", f"{prefix}/top.csv"]
    )
    assert read_object(s3, shared_bucket, f"{prefix}/2024/movies.csv") == big.decode("cp1252").encode("utf-8")
    assert read_object(s3, shared_bucket, f"{prefix}/top.csv") == b"x\n1\n"


def test_zip_bomb_member_is_refused_and_the_others_land(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    import zipfile

    indir = tmp_path / "in"
    indir.mkdir()
    with zipfile.ZipFile(
        indir / "bomb.zip", "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9
    ) as archive:
        archive.writestr("ok.csv", b"a\n1\n")
        with archive.open("zeros.csv", "w", force_zip64=True) as member:
            for _ in range(200):
                member.write(b"0" * (1 << 20))
    result = upload(tmp_path, s3_server, shared_bucket, prefix, indir)
    assert result.returncode != 0
    assert "zip member zeros.csv expands more than 1000 times" in result.output
    assert list_keys(s3, shared_bucket, prefix) == [f"{prefix}/ok.csv"]


def test_corrupt_zip_member_fails_with_its_offset(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    import zipfile

    indir = tmp_path / "in"
    indir.mkdir()
    raw = cp1252_csv(50_000, seed=9)
    with zipfile.ZipFile(indir / "x.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("broken.csv", raw)
        archive.writestr("fine.csv", b"a\n1\n")
    data = bytearray((indir / "x.zip").read_bytes())
    data[400:440] = b"\x00" * 40  # inside broken.csv's deflate stream
    (indir / "x.zip").write_bytes(bytes(data))
    result = upload(tmp_path, s3_server, shared_bucket, prefix, indir)
    assert result.returncode != 0
    assert "x.zip/broken.csv: corrupt zip member broken.csv before archive byte offset" in result.output
    assert list_keys(s3, shared_bucket, prefix) == [f"{prefix}/fine.csv"]
    assert open_uploads(s3, shared_bucket, prefix) == []


def test_late_cp1252_bytes_past_the_sampled_head_restart_the_compressed_source(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    source = tmp_path / "late.csv.gz"
    head = b"".join(b"%d,plain ascii row\n" % i for i in range(500_000))  # ~10 MiB: past the 8 MiB head
    raw = head + "9,Coração\n".encode("cp1252")
    source.write_bytes(gzip.compress(raw, 1))
    result = upload(tmp_path, s3_server, shared_bucket, prefix, source, "--compress", "gzip")
    assert result.returncode == 0, result.output
    stored = read_object(s3, shared_bucket, f"{prefix}/late.csv.gz")
    assert gzip.decompress(stored) == raw.decode("cp1252").encode("utf-8")
    entry = json.loads((tmp_path / "report.json").read_text())["files"][0]
    assert entry["source_encoding"] == "cp1252"
    assert any("restarted" in note for note in entry["notes"])


@pytest.mark.parametrize("name", ["gzip", "zstd"])
def test_a_rerun_skips_the_compressed_objects_it_made(
    s3_server: Any, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path, name: str
) -> None:
    indir = tmp_path / "in"
    indir.mkdir()
    (indir / "small.csv").write_bytes(cp1252_csv(100))
    (indir / "packed.csv.gz").write_bytes(gzip.compress(cp1252_csv(100, seed=2)))
    first = upload(tmp_path, s3_server, shared_bucket, prefix, indir, "--compress", name)
    assert first.returncode == 0, first.output
    again = upload(tmp_path, s3_server, shared_bucket, prefix, indir, "--compress", name)
    assert again.returncode == 0, again.output
    statuses = [f["status"] for f in json.loads((tmp_path / "report.json").read_text())["files"]]
    assert statuses == ["skipped", "skipped"]

"""Issue 14 (everyday use): --include/--exclude, object options, --bwlimit, bars closed before the
--local listing."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest

from async_ingest.cli import main as cli
from async_ingest.pipeline.identity import fingerprint, object_extra
from async_ingest.s3.object_options import (
    OWN_METADATA,
    parse_content_type,
    parse_metadata,
    parse_storage_class,
    parse_tags,
)
from async_ingest.s3.ratelimit import TokenBucket, slice_size
from async_ingest.settings import IngestSettings
from async_ingest.sources.files import SourceFile
from async_ingest.sources.walk import FileFilter, SourceError, find_sources, walk_folder
from async_ingest.transform.detect import Detection
from async_ingest.units import KiB, MiB

pytestmark = pytest.mark.slow  # runs of the command: not in the quick subset

MIXED_TREE = [
    "a.csv",
    "B.CSV",
    "c.tsv",
    "notes.txt",
    "readme.md",
    ".hidden.tsv",
    "exports/d.tsv",
    "exports/e.TXT",
    "exports/f.txt",
    "exports/old/g.tsv",
    ".cache/h.tsv",
]


def make_tree(root: Path) -> None:
    for rel in MIXED_TREE:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"id|name\n1|{rel}\n")


def walked(root: Path, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> list[str]:
    return sorted(s.relpath for s in walk_folder(root, filters=FileFilter(include, exclude)))


# --- filters ---------------------------------------------------------------------------------------


def test_default_filter_is_csv_in_any_case(tmp_path: Path) -> None:
    make_tree(tmp_path)
    assert walked(tmp_path) == ["B.CSV", "a.csv"]


def test_include_replaces_the_default_and_a_bare_pattern_matches_the_name_anywhere(tmp_path: Path) -> None:
    make_tree(tmp_path)
    assert walked(tmp_path, ("*.tsv",)) == ["c.tsv", "exports/d.tsv", "exports/old/g.tsv"]
    assert walked(tmp_path, ("*.tsv", "*.csv")) == ["a.csv", "c.tsv", "exports/d.tsv", "exports/old/g.tsv"]


def test_a_pattern_with_a_slash_matches_the_relative_path(tmp_path: Path) -> None:
    make_tree(tmp_path)
    assert walked(tmp_path, ("exports/*.txt",)) == ["exports/f.txt"]
    assert walked(tmp_path, ("exports/*",), ("exports/old/*",)) == [
        "exports/d.tsv",
        "exports/e.TXT",
        "exports/f.txt",
    ]


def test_user_patterns_are_case_sensitive(tmp_path: Path) -> None:
    make_tree(tmp_path)
    assert walked(tmp_path, ("*.txt",)) == ["exports/f.txt", "notes.txt"]
    assert walked(tmp_path, ("*.txt", "*.TXT")) == ["exports/e.TXT", "exports/f.txt", "notes.txt"]


def test_exclude_removes_what_the_default_or_an_include_took(tmp_path: Path) -> None:
    make_tree(tmp_path)
    assert walked(tmp_path, exclude=("B.*",)) == ["a.csv"]
    assert walked(tmp_path, ("*.tsv",), ("old/*", "*/old/*")) == ["c.tsv", "exports/d.tsv"]


def test_hidden_files_and_folders_stay_skipped_whatever_the_patterns(tmp_path: Path) -> None:
    make_tree(tmp_path)
    assert walked(tmp_path, (".*", ".cache/*", "*")) == [
        "B.CSV", "a.csv", "c.tsv", "exports/d.tsv", "exports/e.TXT", "exports/f.txt",
        "exports/old/g.tsv", "notes.txt", "readme.md",
    ]  # fmt: skip


def test_a_file_named_directly_is_taken_whatever_the_filters(tmp_path: Path) -> None:
    make_tree(tmp_path)
    found = find_sources([tmp_path / "readme.md"], filters=FileFilter(("*.tsv",), ("*.md",)))
    assert [s.relpath for s in found] == ["readme.md"]


def test_nothing_found_names_the_patterns(tmp_path: Path) -> None:
    make_tree(tmp_path)
    nothing = r"no files matching \*\.json found in .* \(with \{opt:exclude=x\}\)"  # spelled by the front end
    with pytest.raises(SourceError, match=nothing):
        find_sources([tmp_path], filters=FileFilter(("*.json",), ("x",)))


# --- object options: validation -------------------------------------------------------------------


def test_tags_are_checked_against_s3_rules() -> None:
    assert parse_tags(["team=data", "env=prod run", "path=a/b:c@d", "empty="]) == (
        ("team", "data"), ("env", "prod run"), ("path", "a/b:c@d"), ("empty", ""),
    )  # fmt: skip
    assert parse_tags(["équipe=données"]) == (("équipe", "données"),)  # letters of any script
    for bad, message in [
        (["novalue"], "expected KEY=VALUE"),
        (["=v"], "expected KEY=VALUE"),
        (["k=a", "k=b"], "given twice"),
        (["k" * 129 + "=v"], "up to 128"),
        (["k=" + "v" * 257], "up to 256"),
        (["k=a&b"], "letters, digits"),
        (["k=a\nb"], "letters, digits"),
        (["aws:x=1"], "reserved"),
        ([f"k{i}=v" for i in range(11)], "11 tags given, S3 allows 10"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_tags(bad)


def test_metadata_is_ascii_lower_cased_and_never_ours() -> None:
    assert parse_metadata(["Owner=team-data", "batch.id=42"]) == (("owner", "team-data"), ("batch.id", "42"))
    for key in OWN_METADATA:
        with pytest.raises(ValueError, match=f"'{key}': async_ingest sets this key itself"):
            parse_metadata([f"{key.upper()}=x"])
    for bad, message in [
        (["owner=équipe"], "printable ASCII"),
        (["owner=a\tb"], "printable ASCII"),
        (["own er=x"], "keys are ASCII"),
        (["ówner=x"], "keys are ASCII"),
        (["a=1", "A=2"], "given twice"),
        (["k=" + "v" * 1100], "at most 1024"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_metadata(bad)


def test_storage_class_and_content_type() -> None:
    assert parse_storage_class("standard_ia") == "STANDARD_IA"
    with pytest.raises(ValueError, match="choose from STANDARD, "):
        parse_storage_class("COLD")
    assert (
        parse_content_type("text/tab-separated-values; charset=utf-8")
        == "text/tab-separated-values; charset=utf-8"
    )
    for bad in ["text", "text/", "text/csv\r\nX-Evil: 1", "text/csv; charset=ü", "a b/c"]:
        with pytest.raises(ValueError, match="expected TYPE/SUBTYPE"):
            parse_content_type(bad)


def test_object_extra_adds_the_options_beside_our_metadata() -> None:
    source = SourceFile("x.csv", "", 10, 1)
    detection = Detection("utf-8", "ascii", 1.0, b"")
    plain = object_extra(source, detection, "fp", IngestSettings("b"))
    assert set(plain["Metadata"]) == set(OWN_METADATA)  # OWN_METADATA lists exactly what we set
    assert "Tagging" not in plain and "ContentType" not in plain and "StorageClass" not in plain
    settings = IngestSettings(
        "b", tags=(("team", "data & more"), ("k", "a=b/c")), metadata=(("owner", "me"),),
        storage_class="STANDARD_IA", content_type="text/plain",
    )  # fmt: skip
    extra = object_extra(source, detection, "fp", settings)
    assert extra["Metadata"]["owner"] == "me" and extra["Metadata"]["fingerprint"] == "fp"
    assert urllib.parse.parse_qsl(extra["Tagging"]) == [("team", "data & more"), ("k", "a=b/c")]
    assert extra["StorageClass"] == "STANDARD_IA" and extra["ContentType"] == "text/plain"


def test_object_options_change_the_fingerprint_and_their_absence_does_not() -> None:
    source = SourceFile("x.csv", "", 10, 1)
    base = fingerprint(source, [b"abc"], IngestSettings("b"))
    assert fingerprint(source, [b"abc"], IngestSettings("b", tags=(("a", "b"),))) != base
    assert fingerprint(source, [b"abc"], IngestSettings("b", content_type="text/plain")) != base


# --- the command line: one line and exit 2 --------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tag", "team"], "--tag 'team': expected KEY=VALUE"),
        (["--metadata", "fingerprint=x"], "--metadata 'fingerprint': async_ingest sets this key itself"),
        (["--storage-class", "COLD"], "--storage-class 'COLD': choose from"),
        (["--content-type", "csv"], "--content-type 'csv': expected TYPE/SUBTYPE"),
        (["--bwlimit", "fast"], "--bwlimit: not a size"),
        (["--bwlimit", "0"], "--bwlimit 0: must be at least 1 byte per second"),
    ],
)
def test_bad_object_options_are_one_line_and_exit_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.csv").write_text("a\n")
    assert cli.main([str(tmp_path), "--bucket", "bkt", *args]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("async-ingest: error: ") and message in err and err.count("\n") == 1


def test_bwlimit_accepts_sizes_per_second() -> None:
    def rate(text: str) -> int | None:
        return cli.parse_settings(["x", "--bucket", "bkt", "--bwlimit", text], {}).bwlimit

    assert rate("10MiB") == rate("10M") == rate("10MiB/s") == 10 * MiB  # binary, as --part-size
    assert rate("500k") == 500 * KiB
    assert cli.parse_settings(["x", "--bucket", "bkt"], {}).bwlimit is None


def test_repeatable_options_from_the_environment_and_the_command_line_wins() -> None:
    env = {"ASYNC_INGEST_INCLUDE": "*.tsv, *.txt", "ASYNC_INGEST_TAG": "team=data,env=prod"}
    settings = cli.parse_settings(["x", "--bucket", "bkt"], env)
    assert settings.filters.include == ("*.tsv", "*.txt")
    assert settings.ingest.tags == (("team", "data"), ("env", "prod"))
    settings = cli.parse_settings(["x", "--bucket", "bkt", "--include", "*.csv", "--include", "*.CSV"], env)
    assert settings.filters.include == ("*.csv", "*.CSV")  # replaced, not added to
    assert settings.ingest.tags == (("team", "data"), ("env", "prod"))


# --- --bwlimit: the token bucket on a simulated clock ---------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_burst_is_free_then_each_byte_costs_its_time() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1000, burst=500, clock=clock)
    assert bucket.take(500) == 0
    assert bucket.take(250) == pytest.approx(0.25)
    clock.now += 0.25
    assert bucket.take(1000) == pytest.approx(1.0)  # larger than the burst: granted, paid by waiting


def test_concurrent_takers_queue_behind_each_others_debt() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=100, burst=0, clock=clock)
    waits = [bucket.take(100) for _ in range(3)]  # three uploads asking at the same instant
    assert waits == pytest.approx([1.0, 2.0, 3.0])


def test_idle_time_saves_up_no_more_than_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=100, burst=50, clock=clock)
    clock.now += 3600
    assert bucket.take(50) == 0
    assert bucket.take(100) == pytest.approx(1.0)


def test_a_long_upload_keeps_the_rate() -> None:
    clock = FakeClock()
    rate = 64 * KiB
    bucket = TokenBucket(rate=rate, burst=slice_size(rate, MiB), clock=clock)
    start, sent = clock.now, 0
    while sent < 4 * MiB:
        step = slice_size(rate, MiB)
        clock.now += bucket.take(step)  # sleep as the payload writer does, then send
        sent += step
    assert (clock.now - start) == pytest.approx((sent - slice_size(rate, MiB)) / rate)


def test_slices_are_an_eighth_of_a_second_within_bounds() -> None:
    assert slice_size(8 * MiB, MiB) == MiB
    assert slice_size(100 * MiB, MiB) == MiB
    assert slice_size(80 * KiB, MiB) == 10 * KiB
    assert slice_size(1, MiB) == 256

import os
from pathlib import Path

import pytest

from async_ingest.sources.shard import Shard, parse_shard, shard_from_environment
from async_ingest.sources.walk import SourceError, Unreadable, find_sources, walk_folder


def make_tree(root: Path) -> None:
    for rel in ["a.csv", "B.CSV", "notes.txt", ".hidden.csv", "sub/c.csv", ".git/d.csv", "sub/deeper/e.Csv"]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n")


def test_walk_finds_csv_case_insensitively_and_skips_hidden(tmp_path: Path) -> None:
    make_tree(tmp_path)
    found = [s.relpath for s in walk_folder(tmp_path)]
    assert found == ["B.CSV", "a.csv", "sub/c.csv", "sub/deeper/e.Csv"]


def test_missing_path_and_empty_folder_are_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        find_sources([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no CSV files found"):
        find_sources([tmp_path / "empty"])


def test_the_same_file_given_twice_is_taken_once(tmp_path: Path) -> None:
    make_tree(tmp_path)
    found = find_sources([tmp_path, tmp_path / "a.csv"])
    assert [s.path.name for s in found].count("a.csv") == 1


def test_symlinks_leading_outside_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "passwords.csv").write_text("x\n")
    (outside / "other.csv").write_text("z\n")
    root = tmp_path / "exports"
    root.mkdir()
    (root / "ok.csv").write_text("y\n")
    os.symlink(outside / "other.csv", root / "link.csv")
    os.symlink(outside, root / "linkdir")
    assert [s.relpath for s in find_sources([root])] == ["ok.csv"]
    followed = sorted(s.relpath for s in find_sources([root], follow_symlinks=True))
    # other.csv is reachable twice (link.csv and linkdir/other.csv): taken once.
    assert followed == ["link.csv", "linkdir/passwords.csv", "ok.csv"]


def test_shards_are_disjoint_and_complete(tmp_path: Path) -> None:
    for i in range(200):
        (tmp_path / f"f{i:03d}.csv").write_text("x\n")
    sources = find_sources([tmp_path])
    for count in (1, 3, 7):
        owned = [[s.relpath for s in sources if Shard(i, count).owns(s)] for i in range(count)]
        flat = [p for share in owned for p in share]
        assert sorted(flat) == sorted(s.relpath for s in sources)
        assert len(flat) == len(set(flat))
        assert all(share for share in owned)  # 200 files spread over <= 7 shards: none empty


def test_shard_parsing_and_environment() -> None:
    assert parse_shard("2/5") == Shard(2, 5)
    with pytest.raises(ValueError):
        parse_shard("5/5")
    with pytest.raises(ValueError):
        parse_shard("x")
    assert shard_from_environment({"JOB_COMPLETION_INDEX": "1", "JOB_COMPLETIONS": "4"}) == Shard(1, 4)
    assert shard_from_environment(
        {"AWS_BATCH_JOB_ARRAY_INDEX": "0", "AWS_BATCH_JOB_ARRAY_SIZE": "2"}
    ) == Shard(0, 2)
    assert shard_from_environment({}) is None


def test_a_folder_that_cannot_be_listed_is_collected_never_dropped(tmp_path: Path) -> None:
    # As root every folder is readable; a file given as the root makes os.walk fail the same way
    # (its onerror hook), which is what an unreadable folder does (end to end: test_hardening.py).
    not_a_folder = tmp_path / "file.csv"
    not_a_folder.write_text("x\n")
    unreadable: list[Unreadable] = []
    assert walk_folder(not_a_folder, unreadable=unreadable) == []
    assert [u.path for u in unreadable] == [not_a_folder]
    assert unreadable[0].error.startswith(f"{not_a_folder}: cannot read: ")
    with pytest.raises(SourceError, match="cannot read"):
        walk_folder(not_a_folder)  # no list to collect into: an error, not silence

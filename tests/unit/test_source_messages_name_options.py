"""The input side (async_ingest/sources) never spells a flag: its messages carry {opt:NAME} marks that
each front end spells (--max-expanded-size on the command line, max_expanded_size in Python)."""

from __future__ import annotations

import ast
import gzip
import re
from pathlib import Path

import pytest

from async_ingest.cli.table import spell
from async_ingest.outcome import spell_options
from async_ingest.sources.archives import ZipMember, refuse_member
from async_ingest.sources.compressed import CompressedSourceError, DecompressingReader
from async_ingest.sources.stdin import NOT_AGAIN
from async_ingest.sources.walk import FileFilter, SourceError, find_sources

SOURCES = Path(__file__).resolve().parents[2] / "async_ingest" / "sources"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]+")


def command_line(text: str) -> str:
    return spell_options(text, spell, python=False)


def python(text: str) -> str:
    return spell_options(text)


def test_no_string_in_the_sources_package_spells_a_flag() -> None:
    """Docstrings may name flags for the reader of the code; messages may not."""
    spelled = []
    for path in sorted(SOURCES.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        spelled += [
            f"{path.name}:{node.lineno}: {node.value!r}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and FLAG.search(node.value)
        ]
    assert spelled == []


def test_nothing_found_names_include_and_exclude_in_each_front_ends_words(tmp_path: Path) -> None:
    (tmp_path / "a.tsv").write_text("a\n")
    with pytest.raises(SourceError) as caught:
        find_sources([tmp_path], filters=FileFilter(exclude=("x", "y")))
    message = str(caught.value)
    assert "--" not in message
    assert "(with --exclude x y) (looked for *.csv" in command_line(message)
    assert "other names: --include GLOB, e.g. --include '*.txt'" in command_line(message)
    assert "(with exclude='x y')" in python(message)
    assert "other names: include GLOB" in python(message)


def test_a_url_source_points_at_the_bucket_option_in_each_front_ends_words() -> None:
    with pytest.raises(SourceError) as caught:
        find_sources([Path("s3://raw/foo")])
    assert "(the target is --bucket)" in command_line(str(caught.value))
    assert "(the target is bucket)" in python(str(caught.value))


def test_a_source_expanding_past_its_bound_names_max_expanded_size(tmp_path: Path) -> None:
    source = tmp_path / "t.csv.gz"
    source.write_bytes(gzip.compress(b"a,b\n" * 500))
    reader = DecompressingReader(source, "gzip", max_expanded=1000)
    with pytest.raises(CompressedSourceError) as caught:
        reader.read(4000)
    reader.close()
    assert command_line(str(caught.value)) == (
        "expanded past --max-expanded-size (1000 bytes): refused, nothing was uploaded"
    )
    assert python(str(caught.value)).startswith("expanded past max_expanded_size (1000 bytes)")


def test_a_zip_member_beyond_the_bound_names_max_expanded_size_alone_and_together() -> None:
    alone = ZipMember(Path("x.zip"), "m.csv", 4000, 5000, compress_size=4000)
    with pytest.raises(CompressedSourceError) as caught:
        refuse_member(alone, 1000)
    assert "beyond --max-expanded-size (1000 bytes): refused" in command_line(str(caught.value))
    together = ZipMember(Path("x.zip"), "m.csv", 4000, 900, compress_size=400, archive_expanded=2700)
    with pytest.raises(CompressedSourceError) as caught:
        refuse_member(together, 1000)
    assert "beyond --max-expanded-size (1000 bytes, which bounds a whole archive)" in command_line(
        str(caught.value)
    )


def test_standard_input_not_read_again_names_encoding_and_on_decode_error() -> None:
    assert command_line(NOT_AGAIN).endswith("give --encoding, or --on-decode-error replace")
    assert python(NOT_AGAIN).endswith("give encoding, or on_decode_error='replace'")

"""What a file name can do to output: nothing (escaped in text, valid one-line JSON)."""

import json
import os

from async_ingest.output.display import json_safe, json_text, printable


def test_control_characters_and_line_separators_are_escaped() -> None:
    name = "x\x1b[31mred\nFAKE\r\t\x00\x7f\x85\x9b\u2028\u2029\u202e.csv"
    shown = printable(name)
    assert shown == "x\\x1b[31mred\\nFAKE\\r\\t\\x00\\x7f\\x85\\x9b\\u2028\\u2029\\u202e.csv"
    assert len(shown.splitlines()) == 1 and shown.isprintable()
    assert printable(shown) == shown  # idempotent: escaping a line twice changes nothing


def test_ordinary_names_are_shown_as_they_are() -> None:
    for name in ["data/movies.csv", "filmes ação.csv", "東京 データ.csv", "a b\\c.csv", "emoji 😀.csv"]:
        assert printable(name) == name


def test_undecodable_bytes_are_shown_as_hex_and_encode_as_utf8() -> None:
    name = os.fsdecode(b"caf\xe9.csv")
    assert printable(name) == "caf\\xe9.csv" == json_safe(name)
    printable(name).encode("utf-8")
    assert json_safe("line\nbreak") == "line\nbreak"  # JSON escapes controls itself


def test_json_text_keeps_one_record_on_one_line_and_the_values_intact() -> None:
    record = {"source": "a\u2028b\x85c\nd\u202ee", "key": "ação"}
    text = json_text(record)
    assert len(text.splitlines()) == 1 and "ação" in text
    assert "\u2028" not in text and "\x85" not in text and "\u202e" not in text
    assert json.loads(text) == record
    assert json.loads(json_text(record, indent=2)) == record

import datetime as dt
import os

import pytest

from async_ingest.keys import (
    DEFAULT_KEY_TEMPLATE,
    InvalidKey,
    KeyFields,
    collision_message,
    decode_name,
    key_collisions,
    render_key,
    validate_template,
)

DAY = dt.date(2026, 11, 25)


def test_default_template_gives_dated_raw_layout() -> None:
    key = render_key(DEFAULT_KEY_TEMPLATE, KeyFields("movies.csv", "", DAY))
    assert key == "Raw/Local/CSV/Movies/2026/11/25/movies.csv"


def test_dataset_upper_cases_only_the_first_letter() -> None:
    fields = KeyFields("tv_series.CSV", "", DAY)
    assert fields.dataset == "Tv_series"
    assert render_key("{dataset}/{stem}/{filename}", fields) == "Tv_series/tv_series/tv_series.CSV"


def test_non_ascii_file_names_are_kept_in_keys() -> None:
    assert (
        render_key("{dataset}/{filename}", KeyFields("filmes ação.csv", "", DAY))
        == "Filmes ação/filmes ação.csv"
    )


def test_reldir_keeps_subfolders_and_vanishes_at_top_level() -> None:
    template = "in/{reldir}/{filename}"
    assert render_key(template, KeyFields("a.csv", "2024/q1", DAY)) == "in/2024/q1/a.csv"
    assert render_key(template, KeyFields("a.csv", "", DAY)) == "in/a.csv"


def test_control_characters_and_backslashes_are_replaced() -> None:
    assert render_key("{filename}", KeyFields("a\x01b\\c.csv", "", DAY)) == "a_b_c.csv"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{nope}/{filename}", "unknown field"),
        ("Raw/{dataset}", "{filename} or {stem}"),
        ("Raw//{filename}", "empty segment"),
        ("Raw/../{filename}", "'..'"),
        ("/Raw/{filename}", "starts with '/'"),
        ("Raw/{filename", "invalid key template"),
    ],
)
def test_bad_templates_are_refused_before_any_upload(template: str, message: str) -> None:
    with pytest.raises(InvalidKey, match=message.replace("{", r"\{").replace("}", r"\}").replace(".", r"\.")):
        validate_template(template)


def test_a_file_named_dot_dot_cannot_escape() -> None:
    with pytest.raises(InvalidKey):
        render_key("x/{stem}/{filename}", KeyFields("..", "", DAY))


def test_bytes_that_are_not_utf8_are_read_as_windows_1252() -> None:
    name = os.fsdecode(b"caf\xe9 \x80.csv")  # Latin-1/cp1252 bytes, as a Windows export leaves them
    assert decode_name(name) == "café €.csv"
    assert render_key("{dataset}/{filename}", KeyFields(name, os.fsdecode(b"r\xe9gion"), DAY)) == (
        "Café €/café €.csv"
    )
    assert render_key("{reldir}/{filename}", KeyFields("a.csv", os.fsdecode(b"r\xe9gion/x"), DAY)) == (
        "région/x/a.csv"
    )
    # The five bytes Windows-1252 leaves undefined are C1 controls in Latin-1: they become '_'.
    assert render_key("{filename}", KeyFields(os.fsdecode(b"a\x81b.csv"), "", DAY)) == "a_b.csv"
    assert decode_name("ação.csv") == "ação.csv"  # valid UTF-8 is untouched


def test_key_collisions_lists_each_shared_key_with_its_sources() -> None:
    planned = [("a/movies.csv", "M/movies.csv"), ("b/movies.csv", "M/movies.csv"), ("s.csv", "S/s.csv")]
    assert key_collisions(planned) == {"M/movies.csv": ["a/movies.csv", "b/movies.csv"]}
    assert key_collisions([("a", "k1"), ("b", "k2")]) == {}


def test_names_sanitised_alike_collide() -> None:
    names = ["a\nb.csv", "a\rb.csv", "a\tb.csv", "a_b.csv", "a\\b.csv", "ok.csv"]
    planned = [(n, render_key("{reldir}/{filename}", KeyFields(n, "", DAY))) for n in names]
    assert key_collisions(planned) == {"a_b.csv": names[:5]}


def test_collision_message_names_sources_and_suggests_reldir() -> None:
    message = collision_message({"M/movies.csv": ["a/movies.csv", "b/movies.csv"]}, DEFAULT_KEY_TEMPLATE)
    assert "a/movies.csv, b/movies.csv -> M/movies.csv" in message
    assert "Raw/Local/CSV/{dataset}/{yyyy}/{mm}/{dd}/{reldir}/{filename}" in message
    assert "rename" in collision_message({"k": ["x", "y"]}, "{reldir}/{filename}")


def test_collision_message_stays_short_for_many_collisions() -> None:
    collisions = {f"k{i}": [f"s{i}-{j}" for j in range(10)] for i in range(50)}
    message = collision_message(collisions, "{filename}")
    assert "and 7 more sources" in message and "and 47 more keys" in message
    assert "s3-0" not in message and len(message) < 400

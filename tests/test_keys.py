import datetime as dt

import pytest

from async_ingest.keys import DEFAULT_KEY_TEMPLATE, InvalidKey, KeyFields, render_key, validate_template

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

"""The API's keyword arguments (OptionChanges, which mypy checks in user code) are IngestOptions'
fields, name for name and type for type: the two lists are written twice because a TypedDict cannot be
derived from a dataclass for a type checker, so this holds them equal."""

from __future__ import annotations

import dataclasses

from async_ingest.options import IngestOptions, OptionChanges


def test_every_option_is_a_keyword_of_the_api_with_the_same_type() -> None:
    fields = {field.name: str(field.type) for field in dataclasses.fields(IngestOptions)}
    annotations = OptionChanges.__annotations__  # ForwardRefs: the text written in the class
    keywords = {name: getattr(kind, "__forward_arg__", str(kind)) for name, kind in annotations.items()}
    assert sorted(keywords) == sorted(fields)
    differing = {name: (fields[name], keywords[name]) for name in fields if fields[name] != keywords[name]}
    assert differing == {}

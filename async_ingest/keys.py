"""Object keys from a template: pure rendering and validation, no I/O."""

from __future__ import annotations

import datetime as dt
import functools
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

DEFAULT_KEY_TEMPLATE = "Raw/Local/CSV/{dataset}/{yyyy}/{mm}/{dd}/{filename}"
TEMPLATE_FIELDS = ("dataset", "stem", "filename", "reldir", "yyyy", "mm", "dd")
MAX_KEY_BYTES = 1024  # S3 limit on UTF-8 key length
# Control characters (C0, DEL, C1) make keys that tools and consoles mangle; backslash is a path
# separator on Windows clients.
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")
# Bytes of a file name that are not UTF-8: Python holds them as the surrogates U+DC80..U+DCFF.
_UNDECODABLE = re.compile("[\udc80-\udcff]")
SHOWN_COLLISIONS = 3  # keys (and sources per key) named in the refusal; the rest are counted
T = TypeVar("T")


class InvalidKey(ValueError):
    """A template or a rendered key is not acceptable."""


@dataclass(frozen=True)
class KeyFields:
    filename: str  # e.g. "movies.csv"
    reldir: str  # folder of the file relative to the SOURCE folder given, "" at its top ("a/b" below)
    date: dt.date

    @property
    def stem(self) -> str:
        return self.filename.rsplit(".", 1)[0] if "." in self.filename[1:] else self.filename

    @property
    def dataset(self) -> str:
        stem = self.stem
        return stem[:1].upper() + stem[1:]


def _undecodable_byte(match: re.Match[str]) -> str:
    byte = bytes([ord(match.group()) - 0xDC00])
    try:
        return byte.decode("cp1252")
    except UnicodeDecodeError:  # 0x81, 0x8D, 0x8F, 0x90, 0x9D: C1 controls in Latin-1, then '_'
        return byte.decode("latin-1")


def decode_name(name: str) -> str:
    """A file name as text for a key. The bytes that are not UTF-8 (Windows exports copied as
    they are: 'caf\\xe9.csv') are read as Windows-1252, so the key is 'café.csv'."""
    return _UNDECODABLE.sub(_undecodable_byte, name)


def sanitise_name(name: str) -> str:
    """Replace characters that must not reach a key (control characters, backslash) by '_'."""
    return _UNSAFE_CHARS.sub("_", name)


def validate_template(template: str) -> None:
    """Fail early (before any file is read) on unknown fields or a shape that cannot give valid keys."""
    if _UNSAFE_CHARS.search(template):  # field values are sanitised; the template's own text must be clean
        raise InvalidKey(f"key template {template!r} contains a control character or a backslash")
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise InvalidKey(f"invalid key template {template!r}: {exc}") from None
    unknown = sorted({f for f in fields if f not in TEMPLATE_FIELDS})
    if unknown:
        raise InvalidKey(
            f"unknown field(s) {', '.join('{' + f + '}' for f in unknown)} in key template; "
            f"known: {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}"
        )
    if "filename" not in fields and "stem" not in fields:
        raise InvalidKey("key template must contain {filename} or {stem}, or every file gets the same key")
    render_key(template, KeyFields("sample.csv", "", dt.date(2000, 1, 1)))


def key_text(name: str) -> str:
    """A file or folder name as it goes into a key: decoded, then sanitised."""
    if name.isascii() and name.isprintable() and "\\" not in name:
        return name  # the common case, without the two regular expressions (a run may have 100,000)
    return sanitise_name(decode_name(name))


@functools.lru_cache(maxsize=1024)
def _reldir_text(reldir: str) -> str:
    # Every file of a folder shares its reldir: done once per folder.
    return "/".join(key_text(part) for part in reldir.split("/") if part)


def render_key(template: str, fields: KeyFields) -> str:
    """Render and validate one key. An empty {reldir} takes its following '/' with it."""
    reldir = _reldir_text(fields.reldir)
    filename = key_text(fields.filename)
    safe = KeyFields(filename, reldir, fields.date)
    key = template.replace("{reldir}/", "{reldir}/" if reldir else "").format(
        dataset=safe.dataset,
        stem=safe.stem,
        filename=filename,
        reldir=reldir,
        yyyy=f"{fields.date.year:04d}",
        mm=f"{fields.date.month:02d}",
        dd=f"{fields.date.day:02d}",
    )
    check_key(key)
    return key


def check_key(key: str) -> None:
    if not key:
        raise InvalidKey("empty key")
    if key.startswith("/"):
        raise InvalidKey(f"key {key!r} starts with '/'")
    segments = key.split("/")
    if any(segment == "" for segment in segments):
        raise InvalidKey(f"key {key!r} has an empty segment")
    if any(segment in (".", "..") for segment in segments):
        raise InvalidKey(f"key {key!r} has a '.' or '..' segment")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidKey(f"key {key[:60]!r}... is longer than {MAX_KEY_BYTES} bytes")


def key_collisions(planned: Iterable[tuple[T, str]]) -> dict[str, list[T]]:
    """The keys that more than one source maps to, each with its sources in listing order.

    Keys must be unique within a run: two sources on one key would both be reported uploaded while
    the bucket keeps whichever finished last (and a re-run could flip it)."""
    first: dict[str, T] = {}  # a key's first source; lists only for the keys that collide
    shared: dict[str, list[T]] = {}
    for source, key in planned:
        earlier = first.setdefault(key, source)
        if earlier is not source:
            shared.setdefault(key, [earlier]).append(source)
    return shared


def _first(items: list[str], noun: str, sep: str) -> str:
    shown = sep.join(items[:SHOWN_COLLISIONS])
    rest = len(items) - SHOWN_COLLISIONS
    return f"{shown}{sep}and {rest} more {noun}" if rest > 0 else shown


def collision_message(collisions: dict[str, list[str]], template: str) -> str:
    """One line naming the colliding sources and what to do about it."""
    groups = [f"{_first(sources, 'sources', ', ')} -> {key}" for key, sources in collisions.items()]
    shown = _first(groups, "keys", "; ")
    text = f"sources would overwrite each other (keys must be unique in a run): {shown}"
    if "{reldir}" in template:
        return text + "; rename them (control characters and backslashes in names become '_')"
    field = "{filename}" if "{filename}" in template else "{stem}"
    example = template.replace(field, "{reldir}/" + field, 1)
    return text + f"; put {{reldir}} (the folder below SOURCE) in {{opt:key_template}}, e.g. {example}"

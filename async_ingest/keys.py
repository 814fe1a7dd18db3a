"""Object keys from a template: pure rendering and validation, no I/O."""

from __future__ import annotations

import datetime as dt
import re
import string
from dataclasses import dataclass

DEFAULT_KEY_TEMPLATE = "Raw/Local/CSV/{dataset}/{yyyy}/{mm}/{dd}/{filename}"
TEMPLATE_FIELDS = ("dataset", "stem", "filename", "reldir", "yyyy", "mm", "dd")
MAX_KEY_BYTES = 1024  # S3 limit on UTF-8 key length
# Control characters (C0, DEL, C1) make keys that tools and consoles mangle; backslash is a path
# separator on Windows clients.
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")


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


def render_key(template: str, fields: KeyFields) -> str:
    """Render and validate one key. An empty {reldir} takes its following '/' with it."""
    reldir = "/".join(sanitise_name(part) for part in fields.reldir.split("/") if part)
    filename = sanitise_name(fields.filename)
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

"""Plausibility score (why it can overrule the detector). Only the non-ASCII and control characters of a
decoding carry evidence: ASCII decodes identically under every candidate. Each such character scores 1
or 0, and the mean is the plausibility (0..1):

* 0 for controls, unassigned and private-use code points (a C1 control from 0x80-0x9F is never text),
  and for spacing diacritics or the currency sign ``¤`` that exist only as code page filler;
* 0 for a symbol or punctuation mark glued inside a word (``Kinos‰le`` is mac_roman misreading ``ä``);
* 0 for an uppercase letter right after a lowercase one (``cafÈ``; KOI8-R read as cp1251 flips case);
* 0 for a letter touching a letter of another alphabet (``Mьnchen``), or a CJK character wedged
  inside a Latin word (a multi-byte codec swallowing ``é`` plus the next ASCII letter);
* a letter scores 1 only if it belongs to the alphabet of the best covering language (1/2 if only a
  second language has it): Czech read as cp1252 gives ``ø è ì ò`` next to ``š ž``, which no language
  writes together, whereas cp1250 gives Czech. The contest also credits the other languages of the best
  language's region at REGION_LANGUAGE_WEIGHT (mixed-language files), and counts a word whose non-ASCII
  letters share no language (``Ćrř``) as MIXED_WORD_WEIGHT bad characters.
  A language of LANGUAGE_MARKERS is credited only if one of its marker letters is present (Turkish
  read as cp1252 is Icelandic ``ð ý þ`` without an Icelandic vowel).

:func:`_plausibility` computes it; :mod:`.languages` holds the alphabets and regions."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from itertools import islice

from async_ingest.transform.languages import _covered_by_languages, _one_language, _same_language

SCORED_CHARS_MAX = 4096  # evidence characters scored per candidate; more adds time, not accuracy
SCORE_SLICES = 16  # the scored characters are drawn evenly from this many slices of the excerpt
MIN_PLAUSIBILITY = 0.6  # below this the best decoding is judged garbage: the file is treated as binary
MIXED_WORD_WEIGHT = 2.0  # a word mixing two languages' letters (`Ćrř`) counts as two bad characters
_LATIN_END = "\u0250"  # first code point after Latin Extended-B
WORD_GAP_MAX = 24  # ASCII letters between two non-ASCII letters of one word, at most

_EVIDENCE = re.compile(r"[^\t\n\r\x20-\x7e]")  # characters whose reading differs between candidates
# An evidence character with its neighbours; the lookahead finds overlapping contexts ("éé").
_EVIDENCE_TRIPLE = re.compile(r"(?=(.[^\t\n\r\x20-\x7e].))", re.DOTALL)
# Two non-ASCII characters below _LATIN_END with only ASCII letters between them (a word, if those two are
# letters): the pairs :func:`_mixed_words` looks at, found without a Python step per character.
_LATIN_PAIR = re.compile(rf"(?=([\x80-\u024f])[A-Za-z]{{0,{WORD_GAP_MAX - 1}}}([\x80-\u024f]))")

_CJK_SCRIPTS = frozenset(
    {"CJK", "HIRAGANA", "KATAKANA", "HANGUL", "HALFWIDTH", "FULLWIDTH", "IDEOGRAPHIC", "BOPOMOFO"}
)
_ALPHABETIC_SCRIPTS = frozenset({"LATIN", "GREEK", "CYRILLIC", "HEBREW", "ARABIC", "THAI", "ARMENIAN"})
_SCRIPT_ALIASES = {"FEMININE": "LATIN", "MASCULINE": "LATIN"}  # ª º
# Code page filler that real text practically never uses (iso8859-15 replaced most of them).
_FILLER = frozenset("¤¦¨´¸¯ˆ˜")
_INWORD_PUNCTUATION = frozenset("’‘ʼ'·-")  # apostrophes and the Catalan middle dot sit inside words
_ORDINALS = frozenset("ºª")  # letters (category Lo) that end a word: "1º", "nº", "2ª"

_BAD, _NEUTRAL, _LETTER = 0, 1, 2


@lru_cache(maxsize=8192)
def _script(char: str) -> str:
    word = unicodedata.name(char, "").split(" ", 1)[0]
    word = _SCRIPT_ALIASES.get(word, word)
    return "CJK" if word in _CJK_SCRIPTS else word


def _is_alpha_letter(char: str) -> bool:
    """A letter of a space-separated alphabet (CJK text has no words to be 'inside' of)."""
    return char.isalpha() and _script(char) != "CJK"


def _foreign(script: str, neighbour: str) -> bool:
    other = _script(neighbour) if _is_alpha_letter(neighbour) else script
    return other != script and other in _ALPHABETIC_SCRIPTS and script in _ALPHABETIC_SCRIPTS


@lru_cache(maxsize=65536)  # real text repeats its letter contexts: most lookups hit
def _verdict(char: str, left: str, right: str) -> int:
    category = unicodedata.category(char)
    if category in ("Cc", "Cn", "Co", "Cs") or category == "Sk" or char in _FILLER:
        return _BAD
    if category[0] == "L":
        return _letter_verdict(char, category, left, right)
    if category[0] == "M":
        # A mark belongs on a letter of its own script: a Hebrew point on a Latin letter is cp1255
        # misreading UTF-8. Generic combining accents (U+0300...) fit any base.
        mark_script = _script(char)
        fits = mark_script in ("COMBINING", _script(left))
        return _NEUTRAL if left.isalpha() and fits else _BAD
    glued = _is_alpha_letter(left) and _is_alpha_letter(right)
    if glued and char not in _INWORD_PUNCTUATION:
        return _BAD
    if category in ("So", "Sm", "Sc") and right.islower():
        return _BAD  # "©uąterąič" (ISO-8859-2 "Šušteršič" read as Windows-1250): a symbol opens no word
    if category in ("So", "Sm") and (_is_symbol_run(left) or _is_symbol_run(right)):
        return _BAD  # box drawing from a DOS code page, not text: real symbols stand alone ("© 2001")
    return _NEUTRAL


def _is_symbol_run(neighbour: str) -> bool:
    return not neighbour.isascii() and unicodedata.category(neighbour) in ("So", "Sm")


def _letter_verdict(char: str, category: str, left: str, right: str) -> int:
    script = _script(char)
    if script == "CJK":
        enclosed = _is_alpha_letter(left) and _is_alpha_letter(right)
        return _BAD if enclosed else _NEUTRAL
    if category in ("Lu", "Lt") and unicodedata.category(left) == "Ll":
        return _BAD
    if _foreign(script, left) or _foreign(script, right):
        return _BAD
    if char in "ðÐ" and not _is_alpha_letter(left):
        return _BAD  # "ðalis" (Lithuanian š read as Windows-1252): no Icelandic word starts with ð
    if char in _ORDINALS and _is_alpha_letter(right):
        return _BAD  # "Piteºti" (Romanian ş read as ISO-8859-15): an ordinal follows a number or "n", no word
    return _LETTER


def _evidence_positions(text: str) -> list[int]:
    """Up to SCORED_CHARS_MAX evidence positions, spread over the whole text (the excerpt holds the
    regions one after another, and the tail window must be heard too)."""
    if len(text) <= SCORED_CHARS_MAX:  # no slice can reach its quota: one scan gives the same positions
        return [match.start() for match in _EVIDENCE.finditer(text)]
    span = max(1, -(-len(text) // SCORE_SLICES))
    per_slice = SCORED_CHARS_MAX // SCORE_SLICES
    positions: list[int] = []
    for start in range(0, len(text), span):
        found = _EVIDENCE.finditer(text, start, start + span)
        positions.extend(match.start() for match in islice(found, per_slice))
    return positions


def _plausibility(text: str, triples: dict[str, int] | None = None) -> float:
    """Share (0..1) of the evidence characters (non-ASCII and controls) that read as real text.
    `triples`, if given, are the 3-character contexts of a short text (see :func:`_decoded_contexts`)."""
    # Each distinct (left, char, right) is judged once: text repeats its letter contexts. A short text is
    # cut into its 3-character contexts by one regex scan; a long one at its sampled evidence positions.
    short = len(text) <= SCORED_CHARS_MAX
    positions: list[int] = []
    if short:
        triples = Counter(_EVIDENCE_TRIPLE.findall(" " + text + " ")) if triples is None else triples
    else:
        positions = _evidence_positions(text)
        padded = " " + text + " "
        triples = Counter(padded[index : index + 3] for index in positions)
    if not triples:
        return 1.0
    bad = 0.0
    letters: Counter[str] = Counter()
    latin: set[str] = set()
    for triple, count in triples.items():
        verdict, letter = _judged(triple)
        if verdict == _BAD:
            bad += count
        elif letter:
            letters[letter] += count
            if triple[1] < _LATIN_END:
                latin.add(triple[1])
    if len(latin) > 1 and not _one_language(frozenset(char.lower() for char in latin)):
        mixed = _mixed_pairs(text, latin) if short else _mixed_words(text, positions, latin)
        bad += MIXED_WORD_WEIGHT * mixed
    uncovered = letters.total() - _covered_by_languages(letters) if letters else 0.0
    return max(0.0, 1.0 - (bad + uncovered) / sum(triples.values()))


@lru_cache(maxsize=65536)  # real text repeats its letter contexts: most lookups hit
def _judged(triple: str) -> tuple[int, str]:
    """(verdict, lower-cased letter or "") of the middle character of a 3-character context."""
    verdict = _verdict(triple[1], triple[0], triple[2])
    return verdict, triple[1].lower() if verdict == _LETTER else ""


def _mixed_words(text: str, positions: Sequence[int], latin: set[str]) -> int:
    """Pairs of successive non-ASCII Latin letters in one word that no one language writes together."""
    mixed = 0
    previous = -2  # position of the last non-ASCII Latin letter seen
    for index in positions:
        char = text[index]
        if char not in latin:
            continue
        # The word is sliced last, for the rare pair of no one language.
        if previous >= 0 and not _same_language(text[previous], char) and _in_one_word(text, previous, index):
            mixed += 1
        previous = index
    return mixed


def _mixed_pairs(text: str, latin: set[str]) -> int:
    """:func:`_mixed_words` over every evidence position, by one regex scan: successive non-ASCII Latin
    letters with only ASCII letters (at most WORD_GAP_MAX - 1) between them."""
    return sum(
        1
        for first, second in _LATIN_PAIR.findall(text)
        if first in latin and second in latin and not _same_language(first, second)
    )


def _in_one_word(text: str, previous: int, index: int) -> bool:
    """Whether two non-ASCII letters are in one word: only ASCII letters between them."""
    if index - previous > WORD_GAP_MAX:
        return False
    gap = text[previous + 1 : index]
    return not gap or (gap.isascii() and gap.isalpha())

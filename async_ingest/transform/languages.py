"""The alphabets of the languages legacy CSV files are written in, the code page regions whose languages
share files, and how well they cover a decoding's letters (:func:`_covered_by_languages`): the part of the
plausibility score that tells cp1250 from cp1252, or KOI8-R from cp1251, when every reading yields letters."""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from operator import itemgetter

SECOND_LANGUAGE_WEIGHT = 0.5  # a letter only a second (third...) language explains counts half
REGION_LANGUAGE_WEIGHT = 0.8  # ... and one of the same region as the best language counts nearly full


def _letters(first: int, last: int) -> str:
    return "".join(chr(code) for code in range(first, last + 1) if chr(code).isalpha())


# Non-ASCII lowercase letters each language writes. Coverage of the decoded letters by these alphabets
# is what separates code pages that all yield "letters" (cp1250 vs cp1252, koi8-r vs cp1251 by case).
LANGUAGE_ALPHABETS: dict[str, frozenset[str]] = {
    name: frozenset(letters)
    for name, letters in {
        "portuguese": "áâãàçéêíóôõúüªº",
        "spanish": "áéíóúñüªº",
        "french": "àâæçéèêëîïôœùûüÿ",
        "german": "äöüß",
        "italian": "àèéìíîòóùúªº",
        "catalan": "àçéèíïòóúüªº",
        "dutch": "áéèëïóöü",
        "danish_norwegian": "æøåéóü",
        "swedish_finnish": "åäöéšž",
        "icelandic": "áðéíóúýþæö",
        "estonian": "äöõüšž",
        "czech": "áčďéěíňóřšťúůýž",
        "slovak": "áäčďéíĺľňóôŕšťúýž",
        "polish": "ąćęłńóśźż",
        "hungarian": "áéíóöőúüű",
        "romanian": "ăâîșțşţ",
        "croatian_slovene": "čćđšž",
        "turkish": "çğıöşüâî",
        "lithuanian": "ąčęėįšųūž",
        "latvian": "āčēģīķļņšūž",
        "albanian": "çë",
        "russian": "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        "ukrainian": "абвгґдеєжзиіїйклмнопрстуфхцчшщьюяʼ",
        "belarusian": "абвгдеёжзійклмнопрстуўфхцчшыьэюя",
        "bulgarian": "абвгдежзийклмнопрстуфхцчшщъьюя",
        "serbian_macedonian": "абвгдђѓежзѕијклљмнњопрстћќуфхцчџш",
        "greek": "αβγδεζηθικλμνξοπρσςτυφχψωάέήίόύώϊϋΐΰ",
        "hebrew": _letters(0x05D0, 0x05EA),
        "arabic": _letters(0x0620, 0x064A) + "پچژکگی",
        "thai": _letters(0x0E01, 0x0E4E),
    }.items()
}
LANGUAGE_ALPHABETS["turkish"] |= {"İ".lower()}  # two code points, a dotted i: no letter of the string

_ALPHABETS = tuple(LANGUAGE_ALPHABETS.values())

# Code page regions whose languages share files (German names turn up in Central European ones too).
LANGUAGE_REGIONS: dict[str, frozenset[str]] = {
    "western": frozenset(
        {
            "portuguese",
            "spanish",
            "french",
            "german",
            "italian",
            "catalan",
            "dutch",
            "danish_norwegian",
            "swedish_finnish",
            "icelandic",
            "albanian",
        }
    ),
    "central": frozenset(
        {"czech", "slovak", "polish", "hungarian", "romanian", "croatian_slovene", "german", "albanian"}
    ),
    "baltic": frozenset({"estonian", "lithuanian", "latvian", "swedish_finnish", "german"}),
    "cyrillic": frozenset({"russian", "ukrainian", "belarusian", "bulgarian", "serbian_macedonian"}),
}
_LANGUAGE_INDEX = {name: index for index, name in enumerate(LANGUAGE_ALPHABETS)}
_REGION_MEMBERS = tuple(
    tuple(_LANGUAGE_INDEX[name] for name in sorted(members)) for members in LANGUAGE_REGIONS.values()
)
# Per region, the totals of its member languages picked out of the per-language list in one call.
_REGION_TOTALS = tuple(itemgetter(*members) for members in _REGION_MEMBERS)
# A language credited only if the text has one of these letters: Turkish read as Windows-1252 gives ð ý þ
# (from ğ ı ş) next to ö ü ç, all Icelandic, but Icelandic text without one accented vowel is rare.
LANGUAGE_MARKERS = {"icelandic": frozenset("áéíóúæ")}
_MARKED = tuple((_LANGUAGE_INDEX[name], markers) for name, markers in LANGUAGE_MARKERS.items())


def _masked(letters: Counter[str]) -> frozenset[int]:
    """Indexes of the languages none of whose LANGUAGE_MARKERS is among the letters."""
    return frozenset(index for index, markers in _MARKED if markers.isdisjoint(letters))


def _languages_of(letter: str, masked: frozenset[int]) -> tuple[int, ...]:
    found = _alphabets_of(letter)
    return tuple(index for index in found if index not in masked) if masked else found


@lru_cache(maxsize=4096)
def _alphabets_of(letter: str) -> tuple[int, ...]:
    """Indexes in _ALPHABETS of the alphabets holding the letter."""
    return tuple(index for index, alphabet in enumerate(_ALPHABETS) if letter in alphabet)


def _covered(letters: Counter[str]) -> float:
    """Letters explained by the best language plus, at half weight, by the best second language."""
    # Each letter adds its count to the alphabets that hold it: the few letters present are looked
    # up once each, not every alphabet intersected (~30 of them) twice. LANGUAGE_MARKERS are the
    # contest's (:func:`_covered_by_languages`): the shortcut never accepts Icelandic ð þ ý anyway.
    totals = [0] * len(_ALPHABETS)
    for letter, count in letters.items():
        for index in _alphabets_of(letter):
            totals[index] += count
    return _one_and_a_half(letters, totals, frozenset())


def _one_and_a_half(letters: Counter[str], totals: list[int], masked: frozenset[int]) -> float:
    top = max(totals)
    best = _ALPHABETS[totals.index(top)]  # the first best language, as max() picks it
    seconds = [0] * len(_ALPHABETS)
    for letter, count in letters.items():
        if letter not in best:
            for index in _letter_languages(letter, masked)[0]:
                seconds[index] += count
    return top + SECOND_LANGUAGE_WEIGHT * max(seconds)


def _covered_by_languages(letters: Counter[str]) -> float:
    """The contest's coverage: the better of :func:`_covered` (one language and a half) and, for each
    region of LANGUAGE_REGIONS, its best language in full plus the letters only its other languages
    explain at REGION_LANGUAGE_WEIGHT. Files mix the languages of one code page's region (a customer list
    with Portuguese, Danish and French names): with one language and a half, the true reading of such a
    file scored as garbage and a neighbour code page won."""
    masked = _masked(letters)
    totals = [0] * len(_ALPHABETS)
    regional = [0] * len(LANGUAGE_REGIONS)
    for letter, count in letters.items():
        languages, regions = _letter_languages(letter, masked)
        for index in languages:
            totals[index] += count
        for index in regions:
            regional[index] += count
    best = _one_and_a_half(letters, totals, masked)
    for members_of, region_total in zip(_REGION_TOTALS, regional, strict=True):
        top = max(members_of(totals))
        best = max(best, top + REGION_LANGUAGE_WEIGHT * (region_total - top))
    return best


@lru_cache(maxsize=4096)
def _letter_languages(letter: str, masked: frozenset[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(languages, regions) crediting the letter, looked up once per letter for every candidate."""
    languages = _languages_of(letter, masked)
    return languages, _regions_of(languages)


@lru_cache(maxsize=4096)
def _regions_of(languages: tuple[int, ...]) -> tuple[int, ...]:
    """Indexes in LANGUAGE_REGIONS of the regions holding one of the languages (a letter's)."""
    return tuple(
        index for index, members in enumerate(_REGION_MEMBERS) if not set(members).isdisjoint(languages)
    )


@lru_cache(maxsize=16384)
def _same_language(first: str, second: str) -> bool:
    """Whether two non-ASCII letters of one word can belong to one language: `Săo` (ă Romanian) can,
    `Ćrř` (Ć Croatian or Polish, ř Czech) cannot, so Danish `Ærø` read as Windows-1250 is not text.
    A letter no listed alphabet holds (İ, ǆ) is no evidence either way."""
    a, b = _alphabets_of(first.lower()), _alphabets_of(second.lower())
    return not a or not b or not set(a).isdisjoint(b)


@lru_cache(maxsize=4096)
def _one_language(letters: frozenset[str]) -> bool:
    """Whether one language has all these letters (then no word can mix two: the check is skipped).
    Letters no listed alphabet holds are no evidence either way, as in :func:`_same_language`."""
    common: set[int] | None = None
    for letter in letters:
        found = _alphabets_of(letter)
        if found:
            common = set(found) if common is None else common & set(found)
    return common is None or bool(common)

"""Detection over many small generated files (issue 13): the Western European shortcut must be right on
every one of them, and must leave Central European, Baltic, Turkish, Cyrillic and Greek text to the full
contest. Each sample is a ~2-12 KiB CSV built from one language's phrases; the detected codec must decode
the bytes to exactly the text written."""

# The phrase lists are real text in each language.
# ruff: noqa: E501

from __future__ import annotations

import codecs
import random
import subprocess
import sys

import pytest

from async_ingest.transform import western
from async_ingest.transform.detect import detect

PHRASES = {
    "french": "le cœur a ses raisons|une œuvre célèbre à Paris|l’été dernier près de la forêt|où est la gare ?|déjà vu, très français|la fenêtre du château|un garçon rêveur et sa sœur|Noël à la crèche|« c’est la vie », dit-elle|être ou ne pas être — voilà|les élèves étudient à l’école|ça coûte 12 € à peine|naïf et maïs|un hôtel près du théâtre|Ève et Zoé s’en vont",
    "german": "Größe der Straße|Überprüfung der Daten|schöne Grüße aus München|die Bäume im Frühling|für alle Bürger|Kinosäle und Sitzplätze|„Zitat“ aus dem Buch|Mädchen und Jungen|Öffnungszeiten am Wochenende|weiß und grün|die Häuser der Stadt|über den Fluss|Preis: 5 €|Äpfel, Birnen und Nüsse",
    "spanish": "el niño y la niña|mañana por la mañana|¿dónde está la estación?|¡qué día más bonito!|la canción del corazón|el señor de la montaña|año nuevo, vida nueva|una película española|Ramón y Begoña|el último camión|pingüino en la nieve|más allá del río|la información útil|José y María",
    "portuguese": "a ação do coração|não há solução|São Paulo e Brasília|a família está reunida|o órfão e a mãe|informação útil|três irmãos em Lisboa|a canção do mês|você já viu o avô?|a lição de português|pão e açúcar|o último pôr do sol|caminhões na estrada|Conceição e João",
    "italian": "perché è così|la città più bella|caffè e cornetto|il perù e la virtù|università di Bologna|lunedì e martedì|però non è vero|un po’ di tè|la libertà di parola|Niccolò e Caterina|è già successo|qualità e quantità|l’attività del giorno",
    "dutch": "één keer per week|de ruïne van het kasteel|ideeën voor de zomer|coördinatie van het werk|naïef en eerlijk|de café aan de gracht|België en Nederland|een privé gesprek|financiële gegevens|reünie met vrienden|een geïnteresseerde lezer",
    "danish": "smørrebrød og øl|på gensyn i København|blåbær og jordbær|søster og bror|Århus og Ålborg|træet i haven|høst og forår|Ærø er en ø|møde på kontoret|grønne skove og blå søer",
    "czech": "příliš žluťoučký kůň úpěl ďábelské ódy|Obecná škola v Praze|čtvrtek a pátek|řeka Vltava teče městem|hrad a zámek na kopci|děti si hrají na zahradě|večeře u babičky|dobrý den, jak se máte?|náměstí Míru|Pelíšky a Kolja|šťastný nový rok|vesnička má středisková",
    "polish": "zażółć gęślą jaźń|Władysław i Małgorzata|żółty liść na drzewie|dzień dobry, proszę pana|w Łodzi i w Gdańsku|książka leży na półce|pięć złotych|chłopiec i dziewczynka|źródło wiedzy|miłość i przyjaźń|ślub w kościele",
    "hungarian": "Árvíztűrő tükörfúrógép|őszi szél fúj|köszönöm szépen|gyönyörű időjárás|a főváros Budapest|tűzoltó és rendőr|hétfő és kedd|csütörtök délután|a könyv az asztalon|szőlő és körte|öt üveg bor|ő is eljön|erdő és mező",
    "slovak": "ľadový čaj a káva|Ďakujem veľmi pekne|päť dní v týždni|kôň na lúke|štúdium na univerzite|mäso a zelenina|dlhý deň v Žiline|ľudia v meste|ráno pijem čaj|čítanie kníh|Šťastné a veselé|vŕba pri potoku",
    "croatian": "đak u školi|čaj i kava|žuta kuća na brdu|Šibenik i Split|ćevapi i ražnjići|lijepa naša domovina|dobar dan, kako ste?|noćni život u Zagrebu|učiteljica i đaci|šuma i polje|čovjek i žena",
    "romanian": "ţară şi oraş|mulţumesc frumos|pâine şi brânză|învăţământ superior|şcoala din Iaşi|bună ziua, ce faceţi?|zăpadă în munţi|fraţi şi surori|o carte frumoasă|viaţa la ţară|Bucureşti şi Timişoara",
    "turkish": "Türkiye Cumhuriyeti|İstanbul ve Ankara|güzel bir gün|çay ve kahve|öğrenci ve öğretmen|şehir merkezi|ılık bir rüzgâr|çok teşekkür ederim|ağaç ve çiçek|kış geldi, hava soğuk|Işık ve gölge|yağmur yağıyor",
    "lithuanian": "ąžuolas ir šermukšnis|ačiū labai|Vilnius ir Kaunas|šiandien šilta diena|žmonės ir gyvūnai|mėlynas dangus|ūkininkas ir jo žemė|graži šalis|įdomi knyga|Trakų pilis|vyšnios ir obuoliai|ęsti ir čiulpti",
    "latvian": "Rīga un Jūrmala|paldies ļoti|ķēniņš un ķēniņiene|zaļš mežs|skaista dziesma|šodien ir silts|ģimene un draugi|ābols un bumbieris|mūzika un dejas|ūdens un gaiss|lielā ņemšana",
    "estonian": "Tallinn ja Tartu|tänan väga|ööbik laulab öösel|jõgi ja järv|õun ja pirn|küla ja linn|sõbrad ja pere|hüvasti, head aega|päike paistab|mägi ja org|õpetaja ja õpilane",
    "russian": "Москва слезам не верит|Добрый день, как дела?|Санкт-Петербург и Новгород|ёлка и снегурочка|библиотека и школа|щедрый подъезд|съёмка фильма|журнал и газета|хороший человек|Эрмитаж и Кремль|объявление о продаже",
    "ukrainian": "Київ і Львів|добрий день|їжак і ґава|Україна та Європа|щастя і любов|пʼять гривень|їхня сімʼя|зимовий вечір|вишня і яблуко|Євген і Ірина",
    "bulgarian": "София и Пловдив|добър ден|благодаря много|хубава книга|щастлив човек|ъгъл на улицата|река Дунав|планина Рила|ябълка и круша",
    "greek": "Καλημέρα σας|Αθήνα και Θεσσαλονίκη|ευχαριστώ πολύ|η θάλασσα είναι γαλάζια|Ζορμπάς ο Έλληνας|καλό ταξίδι|ψωμί και τυρί|ο ήλιος λάμπει|το σπίτι μου|φίλοι και οικογένεια",
}

# Language -> codecs its samples are written in. The Western ones are what the shortcut must decide;
# the others must reach the full contest and still come out right.
WRITTEN_IN = {
    "french": ("cp1252", "utf-8", "utf-16"),
    "german": ("cp1252", "utf-8", "iso8859-15"),
    "spanish": ("cp1252", "latin-1", "utf-8"),
    "portuguese": ("cp1252", "latin-1", "utf-16"),
    "italian": ("cp1252", "latin-1"),
    "dutch": ("cp1252",),
    "danish": ("cp1252", "latin-1"),
    "czech": ("cp1250", "iso8859-2", "utf-8"),
    "polish": ("cp1250", "iso8859-2"),
    "hungarian": ("cp1250", "iso8859-2"),
    "slovak": ("cp1250",),
    "croatian": ("cp1250",),
    "romanian": ("cp1250",),
    "turkish": ("cp1254",),
    "lithuanian": ("cp1257",),
    "latvian": ("cp1257",),
    "estonian": ("cp1257",),
    "russian": ("cp1251", "koi8-r", "utf-8"),
    "ukrainian": ("cp1251",),
    "bulgarian": ("cp1251",),
    "greek": ("cp1253", "utf-16"),
}
WESTERN = ("french", "german", "spanish", "portuguese", "italian", "dutch", "danish")
SAMPLES = 12  # per (language, codec): with the mixes below about 500 files
ASCII_WORDS = [
    "id",
    "name",
    "city",
    "year",
    "notes",
    "total",
    "Paris",
    "Berlin",
    "2019",
    "2020",
    "ok",
    "n/a",
    "yes",
    "no",
    "data",
    "report",
]


def sample(languages: tuple[str, ...], codec: str, seed: int) -> str:
    """A CSV of 2-12 KiB: ASCII ids and columns, text fields drawn from the languages' phrases (only
    phrases the codec can write: latin-1 has no € or typographic quotes)."""
    rng = random.Random(f"{languages}-{codec}-{seed}")
    phrases = [p for lang in languages for p in PHRASES[lang].split("|") if _writable(p, codec)]
    target = rng.randrange(2_000, 12_000)
    rows = ["id|code|text|notes|amount"]
    size = 0
    while size < target:
        row = f"{len(rows)}|{rng.choice(ASCII_WORDS)}-{rng.randrange(10**4)}|{rng.choice(phrases)}|"
        row += " ".join(rng.choice(ASCII_WORDS + phrases[:3]) for _ in range(rng.randrange(1, 6)))
        row += f"|{rng.randrange(10**5) / 100}"
        rows.append(row)
        size += len(row) + 2
    return "\r\n".join(rows) + "\r\n"


def _writable(text: str, codec: str) -> bool:
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def encode(text: str, codec: str) -> bytes:
    """UTF-16 with its BOM (as Excel writes it); every other codec without."""
    return codecs.BOM_UTF16_LE + text.encode("utf-16-le") if codec == "utf-16" else text.encode(codec)


def cases() -> list[tuple[tuple[str, ...], str, int]]:
    found = [
        ((lang,), codec, seed)
        for lang, codecs_ in WRITTEN_IN.items()
        for codec in codecs_
        for seed in range(SAMPLES)
    ]
    # Western text quoting names from other Latin languages, and Central European text quoting Western.
    found += [(("french", "german", "spanish", "portuguese"), "cp1252", seed) for seed in range(SAMPLES)]
    found += [(("hungarian", "german"), "cp1250", seed) for seed in range(SAMPLES)]
    found += [(("czech", "german"), "cp1250", seed) for seed in range(SAMPLES)]
    return found


@pytest.mark.parametrize(
    ("languages", "codec", "seed"), cases(), ids=lambda v: "+".join(v) if isinstance(v, tuple) else str(v)
)
def test_many_small_files_decode_to_the_text_written(
    languages: tuple[str, ...], codec: str, seed: int
) -> None:
    text = sample(languages, codec, seed)
    data = encode(text, codec)
    detection = detect([data])
    assert data[len(detection.bom) :].decode(detection.encoding) == text, (languages, codec, detection)


@pytest.mark.parametrize("language", WESTERN)
def test_western_text_is_decided_without_charset_normalizer(
    language: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("charset-normalizer called for plain Western European text")

    monkeypatch.setattr("charset_normalizer.from_bytes", refuse)  # imported where it is used
    for seed in range(SAMPLES):
        data = sample((language,), "cp1252", seed).encode("cp1252")
        detection = detect([data])
        assert (detection.encoding, detection.method) == ("cp1252", "detected")
        assert detection.confidence >= western.WESTERN_SHORTCUT_MIN


def test_charset_normalizer_is_loaded_only_when_a_file_needs_it() -> None:
    # 4 MB resident that ASCII, UTF-8 and Western files never use (the loopback memory target).
    code = "import sys, async_ingest.cli.main; print('charset_normalizer' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"

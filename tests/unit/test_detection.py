"""Encoding detection on realistic CSV corpora (movie catalogues), sampling and codec validation."""

# The corpora are CSV rows kept whole, as real exports have them.
# ruff: noqa: E501

from __future__ import annotations

import codecs
import random
import struct
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from async_ingest.transform import languages
from async_ingest.transform.detect import (
    ASCII_DETECTION,
    PREFERENCE_ORDER,
    SAMPLE_ALIGN,
    Detection,
    UndetectableEncoding,
    ascii_compatible,
    detect,
    detect_bom,
    forced,
    resolve_codec,
    sample_offsets,
)

PORTUGUESE = """id|titulo|ano|descricao|preco
1|Cidade de Deus|2002|Nos anos 60, Buscapé cresce na favela e sonha ser fotógrafo – um retrato “cru” da violência.|€ 9,90
2|Central do Brasil|1998|Dora, uma ex-professora amargurada, ajuda um menino órfão a procurar o pai no sertão.|€ 7,50
3|Tropa de Elite|2007|O capitão Nascimento precisa encontrar um substituto antes do nascimento do filho.|€ 8,00
4|O Auto da Compadecida|2000|As aventuras de João Grilo e Chicó, dois nordestinos pobres que vivem de golpes.|€ 6,99
5|Bacurau|2019|Pouco após a morte da avó, Teresa volta à sua cidade natal e descobre que ela sumiu do mapa.|€ 10,00
6|O Fabuloso Destino de Amélie Poulain|2001|Uma garçonete tímida muda a vida das pessoas – um filme sobre o cœur.|€ 5,50
"""
SPANISH = """id|titulo|año|descripcion
1|El laberinto del fauno|2006|En la España de 1944, Ofelia descubre un laberinto mágico y a un fauno que le encarga tres pruebas.
2|Mar adentro|2004|La historia real de Ramón Sampedro, que luchó durante casi treinta años por una muerte digna.
3|Relatos salvajes|2014|Seis cuentos sobre la venganza y el placer de perder el control: “¿quién no ha soñado con ello?”
4|El secreto de sus ojos|2009|Un agente judicial jubilado escribe una novela sobre un caso de asesinato sin resolver.
5|Los otros|2001|Grace vive con sus dos hijos en una mansión aislada de la isla de Jersey; ¡la oscuridad es su refugio!
6|Volver|2006|Raimunda y su hermana Sole reciben la visita de su madre, a quien creían muerta – ¿un fantasma?
"""
FRENCH = """id|titre|annee|resume|prix
1|Le Fabuleux Destin d'Amélie Poulain|2001|Amélie, une serveuse timide de Montmartre, change la vie des gens qui l’entourent.|12 €
2|Intouchables|2011|À la suite d’un accident de parapente, Philippe engage Driss comme aide à domicile.|9 €
3|La Haine|1995|Vingt-quatre heures dans la vie de trois jeunes d’une cité de banlieue après une nuit d’émeutes.|8 €
4|Les Choristes|2004|En 1949, Clément Mathieu, professeur de musique sans emploi, devient surveillant d’un internat.|7 €
5|Le Dîner de cons|1998|Chaque mercredi, Pierre Brochant et ses amis organisent un dîner où chacun amène un « con ».|6 €
6|Cœur de pirate|2010|Une œuvre sur l’été, la mer et les cœurs brisés — « c’est la vie », dit-elle.|5 €
"""
LATIN1_SPANISH = """id|titulo|año|notas
1|Ocho apellidos vascos|2014|Rafa, un señorito andaluz, viaja al País Vasco «por amor». Clasificación: 7º de taquilla.
2|Torrente|1998|El policía más zafio de Madrid investiga a unos narcos del barrio. ¿Comedia? ¡Sí!
3|Abre los ojos|1997|César, un joven atractivo, queda desfigurado tras un accidente de coche. Duración: 117 min.
4|Todo sobre mi madre|1999|Manuela viaja a Barcelona en busca del padre de su hijo. Premio Óscar a la mejor película.
5|Cría cuervos|1976|Ana, una niña de ocho años, cree tener poder sobre la vida y la muerte. Nota media: 8½.
"""
ISO8859_15_FRENCH = """id|titre|prix|note
1|Le Cœur des hommes|15 €|Quatre amis quinquagénaires traversent une crise : l'œuvre d'une vie.
2|Les Sœurs fâchées|12 €|Deux sœurs que tout oppose se retrouvent à Paris ; Louise rêve d'être écrivain.
3|Œdipe roi|9 €|Adaptation libre de la tragédie de Sophocle, tournée à Ouarzazate.
4|Le Goût des autres|11 €|Castella, chef d'entreprise, tombe amoureux d'une comédienne. Coût du billet : 11 €.
5|Jeux d'enfants|10 €|Julien et Sophie se lancent des défis depuis l'enfance ; un vœu, un jeu, une vie.
"""
CZECH = """id|nazev|rok|popis
1|Kolja|1996|Příběh stárnoucího violoncellisty Louky, který se ožení s Ruskou a musí se postarat o jejího syna.
2|Obecná škola|1991|Chlapec Eda prožívá poslední roky války ve škole, kde nový učitel Igor Hnízdo zavádí přísný řád.
3|Pelíšky|1999|Vánoční komedie o dvou rodinách v pražské vile na konci šedesátých let, plná humoru i smutku.
4|Vesničko má středisková|1985|Otík žije na vesnici a jeho přítel řidič Pávek ho chce naučit samostatnosti.
5|Ostře sledované vlaky|1966|Mladý výpravčí Miloš Hrma na malém nádraží během okupace dospívá a hledá lásku.
6|Tři oříšky pro Popelku|1973|Pohádka o Popelce, která dostane tři kouzelné oříšky a na plese okouzlí prince.
"""
POLISH = """id|tytul|rok|opis
1|Pianista|2002|Historia Władysława Szpilmana, wybitnego pianisty, który przeżył zagładę warszawskiego getta.
2|Dekalog|1989|Dziesięć filmów inspirowanych przykazaniami, rozgrywających się na jednym osiedlu w Warszawie.
3|Ida|2013|Młoda nowicjuszka dowiaduje się przed ślubami zakonnymi, że jest Żydówką; podróż z ciotką.
4|Seksmisja|1984|Dwóch mężczyzn budzi się po hibernacji w świecie, w którym żyją wyłącznie kobiety.
5|Miś|1981|Prezes klubu sportowego próbuje wyjechać do Londynu; satyra na absurdy życia w PRL.
6|Zimna wojna|2018|Burzliwa miłość muzyka i śpiewaczki na tle zimnowojennej Europy, od Polski po Paryż.
"""
RUSSIAN = """id|название|год|описание
1|Москва слезам не верит|1979|Три подруги приезжают в Москву в конце пятидесятых и пытаются найти своё счастье.
2|Брат|1997|Данила Багров после армии едет в Петербург к старшему брату и оказывается втянут в разборки.
3|Ирония судьбы, или С лёгким паром!|1975|После бани с друзьями Женя Лукашин случайно улетает в Ленинград.
4|Сталкер|1979|Проводник ведёт писателя и учёного через таинственную Зону к комнате, исполняющей желания.
5|Белое солнце пустыни|1970|Красноармеец Сухов возвращается домой с Гражданской войны, но ему поручают охранять гарем.
6|Левиафан|2014|Николай живёт в небольшом городке на берегу Баренцева моря и борется с мэром за свой дом.
"""
JAPANESE = """id|タイトル|公開年|あらすじ
1|千と千尋の神隠し|2001|引っ越し先へ向かう途中、十歳の少女千尋は不思議な町に迷い込み、両親が豚に変えられてしまう。
2|七人の侍|1954|戦国時代、野武士に襲われる農民たちは、村を守るために七人の侍を雇うことにした。
3|東京物語|1953|尾道に住む老夫婦が東京に暮らす子供たちを訪ねるが、皆忙しく相手にしてもらえない。
4|となりのトトロ|1988|田舎へ引っ越してきたサツキとメイの姉妹は、森に住む不思議な生き物トトロと出会う。
5|おくりびと|2008|チェロ奏者の大悟は楽団の解散で職を失い、故郷の山形に戻って納棺師の仕事に就く。
"""
CHINESE_SIMPLIFIED = """id|片名|年份|简介
1|霸王别姬|1993|两个京剧演员从小在戏班里一起长大，半个世纪的悲欢离合与时代变迁交织在一起。
2|活着|1994|富贵少爷徐福贵输光家产后，历经战乱、饥荒和亲人离世，仍然顽强地活下去。
3|大红灯笼高高挂|1991|十九岁的颂莲嫁入陈家做四太太，在森严的大院中卷入妻妾之间的争斗。
4|让子弹飞|2010|北洋年间，土匪张麻子劫了县长的火车，冒充县长来到鹅城上任，与恶霸斗智斗勇。
5|流浪地球|2019|太阳即将毁灭，人类在地球表面建造出巨大的推进器，带着地球逃离太阳系。
"""
CHINESE_TRADITIONAL = """id|片名|年份|簡介
1|悲情城市|1989|一九四五年日本戰敗後，台灣林家四兄弟在時代的動盪中經歷了家族的興衰。
2|臥虎藏龍|2000|江湖俠客李慕白決定退隱，將青冥劍交給好友俞秀蓮保管，寶劍卻在北京被盜。
3|無間道|2002|警方臥底陳永仁潛伏在黑幫十年，而黑幫派來的臥底劉建明卻在警隊步步高升。
4|一一|2000|台北中產家庭的父親、母親、女兒和八歲的兒子洋洋，各自面對生活中的困惑。
5|花樣年華|2000|一九六二年的香港，周先生與蘇太太發現各自的配偶有染，兩人漸漸走近。
"""
KOREAN = """id|제목|개봉|줄거리
1|기생충|2019|전원 백수인 기택네 장남 기우가 명문대생 친구의 소개로 박 사장 집에 과외 선생으로 들어간다.
2|올드보이|2003|평범한 회사원 오대수는 누군가에게 납치되어 이유도 모른 채 십오 년 동안 사설 감금방에 갇힌다.
3|살인의 추억|2003|1986년 경기도의 한 시골 마을에서 젊은 여인이 잔혹하게 살해된 채 발견된다.
4|부산행|2016|서울에서 부산으로 향하는 고속열차 안에서 정체불명의 바이러스가 퍼지기 시작한다.
5|괴물|2006|한강에 갑자기 나타난 괴물이 매점을 운영하는 강두의 딸 현서를 끌고 사라진다.
"""
# The shape of charset_normalizer issue #624: German open data, three umlauts in the header only.
GERMAN_FEW_ACCENTS = (
    "Jahr;Kinotheater;Kinosäle;Sitzplätze;Besucher in 1000;Vorhandene Plätze je 1000 Einwohner\n"
    + "".join(f"{1981 + i};{20 + i};{40 + i};{9000 + i};{3000 + i};{i}\n" for i in range(60))
)
MIXED_UTF8 = FRENCH + JAPANESE + RUSSIAN

# (corpus, codec it is written in); detection must return a codec that decodes to the identical text.
CORPORA = [
    pytest.param(PORTUGUESE, "cp1252", id="portuguese-cp1252"),
    pytest.param(SPANISH, "cp1252", id="spanish-cp1252"),
    pytest.param(FRENCH, "cp1252", id="french-cp1252"),
    pytest.param(GERMAN_FEW_ACCENTS, "cp1252", id="german-few-accents-cp1252"),
    pytest.param(LATIN1_SPANISH, "latin-1", id="spanish-latin1"),
    pytest.param(ISO8859_15_FRENCH, "iso8859-15", id="french-iso8859-15"),
    pytest.param(CZECH, "cp1250", id="czech-cp1250"),
    pytest.param(POLISH, "cp1250", id="polish-cp1250"),
    pytest.param(CZECH, "iso8859-2", id="czech-iso8859-2"),
    pytest.param(RUSSIAN, "koi8-r", id="russian-koi8-r"),
    pytest.param(RUSSIAN, "cp1251", id="russian-cp1251"),
    pytest.param(JAPANESE, "shift_jis", id="japanese-shift_jis"),
    pytest.param(JAPANESE, "euc_jp", id="japanese-euc_jp"),
    pytest.param(CHINESE_SIMPLIFIED, "gb18030", id="chinese-gb18030"),
    pytest.param(CHINESE_TRADITIONAL, "big5", id="chinese-big5"),
    pytest.param(KOREAN, "euc_kr", id="korean-euc_kr"),
    pytest.param(MIXED_UTF8, "utf-8", id="mixed-utf-8"),
]


def assert_reads_back(detection: Detection, data: bytes, text: str) -> None:
    assert data.decode(detection.encoding) == text, detection
    assert 0.0 <= detection.confidence <= 1.0


@pytest.mark.parametrize(("text", "codec"), CORPORA)
def test_detects_corpus(text: str, codec: str) -> None:
    data = text.encode(codec)
    detection = detect([data])
    assert detection.method == "detected"
    assert detection.bom == b""
    assert detection.confidence >= 0.9
    assert_reads_back(detection, data, text)


@pytest.mark.parametrize(("text", "codec"), CORPORA)
def test_detects_corpus_from_windows_cut_mid_character(text: str, codec: str) -> None:
    data = (text * 40).encode(codec)
    rng = random.Random(codec)  # deterministic: windows start and end at arbitrary bytes
    window = len(data) // 10
    starts = sorted(rng.randrange(1, len(data) - window) for _ in range(5))
    samples = [data[:window], *(data[start : start + window + rng.randrange(7)] for start in starts)]
    detection = detect(samples)
    assert detection.method == "detected"
    assert_reads_back(detection, data, text * 40)


@pytest.mark.parametrize(
    ("codec", "expected"),
    [("cp1250", "cp1250"), ("koi8-r", "koi8-r"), ("cp1251", "cp1251"), ("iso8859-15", "iso8859-15")],
)
def test_neighbour_code_pages_are_told_apart(codec: str, expected: str) -> None:
    text = {"cp1250": CZECH, "koi8-r": RUSSIAN, "cp1251": RUSSIAN, "iso8859-15": ISO8859_15_FRENCH}[codec]
    assert detect([text.encode(codec)]).encoding == expected


def test_western_text_with_few_accents_is_cp1252_not_a_neighbour_code_page() -> None:
    data = GERMAN_FEW_ACCENTS.encode("cp1252")
    assert data.count(b"\xe4") == 3  # the whole file has three non-ASCII bytes
    detection = detect([data])
    assert detection.encoding == "cp1252"
    assert detection.method == "detected"


@pytest.mark.parametrize(
    "text",
    [
        "Bonjour, je suis à la recherche d'une aide sur les étoiles",
        "name,city\nJoão,São Paulo\n" + "x,y\n" * 200,
        "id,desc\n1,Preis: 5 €\n2,“Zitat”\n",
        "Les élèves étudient l'œuvre de Molière à l'école.\n",
        "Überprüfung der Größe\n",
        "café",  # a whole file ending in a non-ASCII byte: not a cut UTF-8 sequence
    ],
)
def test_short_western_text_is_cp1252(text: str) -> None:
    data = text.encode("cp1252")
    detection = detect([data])
    assert detection.encoding == "cp1252"
    assert_reads_back(detection, data, text)


def test_accents_only_in_the_tail_window() -> None:
    ascii_rows = "".join(f"{i}|Movie {i}|2001|A plain description\r\n" for i in range(500)).encode()
    tail = PORTUGUESE.encode("cp1252")
    samples = [ascii_rows, ascii_rows[1000:], tail[7:]]
    detection = detect(samples)
    assert detection.encoding == "cp1252"
    assert_reads_back(detection, tail, PORTUGUESE)


def test_extra_region_decides_when_samples_are_ascii() -> None:
    ascii_rows = b"1|Movie|2001\n" * 100
    assert detect([ascii_rows]) == ASCII_DETECTION
    assert detect([ascii_rows], extra=[FRENCH.encode("cp1252")[50:400]]).encoding == "cp1252"
    assert detect([ascii_rows], extra=[JAPANESE.encode("utf-8")[1:300]]).encoding == "utf-8"


def test_extra_region_overrules_a_guess_that_failed_there() -> None:
    # Czech whose head only holds letters cp1252 shares ("Obecná škola"): cp1252 is the right call on
    # that evidence. Later "ť" (0x9D) is undefined in cp1252, the transcoder fails there, and the
    # pipeline re-detects with the region around the failure.
    head = "1|Kolja|1996\n2|Obecná škola|1991\n".encode("cp1250")
    assert detect([head]).encoding == "cp1252"
    failure_region = "3|Pohádka o Popelce; žluťoučký kůň úpěl ďábelské ódy.\n".encode("cp1250")[5:]
    with pytest.raises(UnicodeDecodeError):
        failure_region.decode("cp1252")
    assert detect([head], extra=[failure_region]).encoding == "cp1250"


def test_utf8_detected_even_when_windows_cut_characters() -> None:
    data = (MIXED_UTF8 * 10).encode("utf-8")
    samples = [data[:1001], data[1001:2000], data[2001:3333]]
    assert detect(samples) == Detection("utf-8", "detected", detect(samples).confidence, b"")
    assert detect(samples).confidence >= 0.9


def test_damaged_utf8_stays_utf8() -> None:
    # One cp1252 byte in a UTF-8 export: a code page would garble every valid character; UTF-8 makes
    # the transcoder stop at the bad byte's offset.
    damaged = detect([FRENCH.encode() + "1|café\n".encode("cp1252")])
    assert damaged.encoding == "utf-8"
    assert 0.5 < damaged.confidence < 0.99
    mixed = detect([(FRENCH + RUSSIAN).encode() + FRENCH.encode("cp1252")])  # legacy rows appended
    assert mixed.encoding == "utf-8"


@pytest.mark.parametrize(
    ("codec", "bom"),
    [
        ("utf-8", codecs.BOM_UTF8),
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
        ("utf-32-le", codecs.BOM_UTF32_LE),
        ("utf-32-be", codecs.BOM_UTF32_BE),
    ],
)
def test_bom_decides(codec: str, bom: bytes) -> None:
    data = bom + FRENCH.encode(codec)
    assert detect([data]) == Detection(codec, "bom", 1.0, bom)
    assert detect_bom(data) == (codec, bom)


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
@pytest.mark.parametrize("text", [PORTUGUESE, JAPANESE, RUSSIAN], ids=["portuguese", "japanese", "russian"])
def test_utf16_and_utf32_without_bom_by_nul_lanes(codec: str, text: str) -> None:
    data = (text * 5).encode(codec)
    unit = 4 if "32" in codec else 2
    samples = [data[:2000], data[2000 + unit : 4000], data[5001:7000]]  # last one misaligned
    detection = detect(samples)
    assert (detection.encoding, detection.method) == (codec, "detected")
    assert_reads_back(detection, data, text * 5)


def test_detect_bom_cases() -> None:
    assert detect_bom(b"\xff\xfe\x00\x00a\x00\x00\x00") == ("utf-32-le", codecs.BOM_UTF32_LE)
    assert detect_bom(b"\xff\xfea\x00") == ("utf-16-le", codecs.BOM_UTF16_LE)
    assert detect_bom(b"\x00\x00\xfe\xff") == ("utf-32-be", codecs.BOM_UTF32_BE)
    assert detect_bom(b"\xfe\xff\x00a") == ("utf-16-be", codecs.BOM_UTF16_BE)
    assert detect_bom(b"\xef\xbb\xbfid,name") == ("utf-8", codecs.BOM_UTF8)
    assert detect_bom(b"\xef\xbb") is None  # truncated BOM
    assert detect_bom(b"") is None
    assert detect_bom(b"id,name\n") is None


@pytest.mark.parametrize("samples", [[], [b""], [b"", b""]])
def test_empty_input_is_ascii(samples: list[bytes]) -> None:
    assert detect(samples) == Detection("utf-8", "ascii", 1.0, b"")


def test_pure_ascii_is_utf8_by_ascii() -> None:
    assert detect([b"id,name\r\n1,Alien\r\n", b"2,Heat\r\n"]) == Detection("utf-8", "ascii", 1.0, b"")


def garbage(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.mark.parametrize("seed", range(5))
def test_binary_with_nul_bytes_is_undetectable(seed: int) -> None:
    data = garbage(4096, seed)
    assert b"\x00" in data
    with pytest.raises(UndetectableEncoding, match="NUL"):
        detect([data])


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("size", [512, 8192, 65536])
def test_random_bytes_without_nul_are_undetectable(seed: int, size: int) -> None:
    data = garbage(size, seed).replace(b"\x00", b"\x01")
    with pytest.raises(UndetectableEncoding) as caught:
        detect([data])
    assert isinstance(caught.value, ValueError)
    assert caught.value.reason and "\n" not in caught.value.reason


def test_ascii_text_with_a_nul_byte_is_binary() -> None:
    with pytest.raises(UndetectableEncoding):
        detect([b"id,name\n1,Alien\x00\n" * 20])


def test_int16_array_is_not_mistaken_for_utf16() -> None:
    data = struct.pack("<4096h", *(i % 31 for i in range(4096)))  # zero high bytes, like UTF-16-LE
    with pytest.raises(UndetectableEncoding):
        detect([data])


# --- sample_offsets --------------------------------------------------------------------------------


def test_sample_offsets_small_file_is_read_whole() -> None:
    assert sample_offsets(0) == [0]
    assert sample_offsets(100, window=10, count=10) == [0]
    assert sample_offsets(99, window=10, count=10) == [0]


def test_sample_offsets_spread_head_tail_and_between() -> None:
    window = 1000
    size = 100 * SAMPLE_ALIGN + 123
    offsets = sample_offsets(size, window=window, count=4)
    last = size - window
    assert offsets == [
        0,
        (last // 3) // SAMPLE_ALIGN * SAMPLE_ALIGN,
        (2 * last // 3) // SAMPLE_ALIGN * SAMPLE_ALIGN,
        last,
    ]


@given(
    size=st.integers(min_value=0, max_value=10**12),
    window=st.integers(min_value=1, max_value=2**24),
    count=st.integers(min_value=1, max_value=16),
)
def test_sample_offsets_properties(size: int, window: int, count: int) -> None:
    offsets = sample_offsets(size, window=window, count=count)
    assert offsets[0] == 0
    assert offsets == sorted(set(offsets))
    if offsets == [0]:
        assert size <= count * window or count == 1
        return
    assert len(offsets) <= count
    assert offsets[-1] == size - window  # the tail window ends at EOF
    assert all(offset + window <= size for offset in offsets)
    assert all(offset % SAMPLE_ALIGN == 0 for offset in offsets[:-1])


def test_sample_offsets_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        sample_offsets(-1)
    with pytest.raises(ValueError):
        sample_offsets(10, window=0)


# --- resolve_codec, forced, codec facts -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("latin-1", "iso8859-1"),
        ("UTF8", "utf-8"),
        ("windows-1252", "cp1252"),
        ("Shift_JIS", "shift_jis"),
        ("utf_16_le", "utf-16-le"),
        ("koi8_r", "koi8-r"),
    ],
)
def test_resolve_codec_canonical_names(name: str, canonical: str) -> None:
    assert resolve_codec(name) == canonical


def test_resolve_codec_unknown() -> None:
    with pytest.raises(ValueError, match="unknown encoding 'klingon-8'"):
        resolve_codec("klingon-8")


@pytest.mark.parametrize("name", ["rot13", "base64", "zlib", "hex", "bz2", "uu", "quopri"])
def test_resolve_codec_rejects_non_text_codecs(name: str) -> None:
    with pytest.raises(ValueError, match="not a text encoding"):
        resolve_codec(name)


def test_forced_keeps_the_choice_and_strips_a_matching_bom() -> None:
    assert forced("latin-1") == Detection("iso8859-1", "forced", 1.0, b"")
    assert forced("utf-8", codecs.BOM_UTF8 + b"id") == Detection("utf-8", "forced", 1.0, codecs.BOM_UTF8)
    assert forced("utf-8-sig", b"id") == Detection("utf-8", "forced", 1.0, b"")
    assert forced("cp1252", codecs.BOM_UTF8 + b"id").bom == b""  # not its BOM: content, as asked
    bom16 = codecs.BOM_UTF16_BE + "id".encode("utf-16-be")
    assert forced("utf-16", bom16) == Detection("utf-16-be", "forced", 1.0, codecs.BOM_UTF16_BE)
    assert forced("utf-16", "id,name".encode("utf-16-be")).encoding == "utf-16-be"
    assert forced("utf-16", b"").encoding == "utf-16-le"
    with pytest.raises(ValueError):
        forced("base64")


def test_preference_order_uses_canonical_codec_names() -> None:
    assert len(set(PREFERENCE_ORDER)) == len(PREFERENCE_ORDER)
    assert PREFERENCE_ORDER[:4] == ("utf-8", "cp1252", "iso8859-15", "iso8859-1")
    for name in PREFERENCE_ORDER:
        assert codecs.lookup(name).name == name
        assert ascii_compatible(name)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("utf-8", True),
        ("cp1252", True),
        ("latin-1", True),
        ("koi8-r", True),
        ("shift_jis", True),
        ("euc_jp", True),
        ("gb18030", True),
        ("big5", True),
        ("euc_kr", True),
        ("utf-16-le", False),
        ("utf-16", False),
        ("utf-32-be", False),
        ("utf-8-sig", False),  # buffers the first bytes looking for its signature
        ("cp037", False),  # EBCDIC
        ("utf-7", False),
        ("iso2022_jp", False),
        ("hz", False),
    ],
)
def test_ascii_compatible(name: str, expected: bool) -> None:
    assert ascii_compatible(name) is expected


def test_covered_letters_are_the_best_language_plus_half_the_best_second() -> None:
    """_covered (letters counted into the alphabets that hold them) against its definition, on random
    mixes of Latin and non-Latin letters."""
    alphabets = languages._ALPHABETS
    pool = sorted({letter for alphabet in alphabets for letter in alphabet} | set("x€q"))
    rnd = random.Random(5)
    for _ in range(3000):
        letters = Counter({rnd.choice(pool): rnd.randint(1, 40) for _ in range(rnd.randint(1, 25))})
        totals = [sum(n for letter, n in letters.items() if letter in alphabet) for alphabet in alphabets]
        best = alphabets[totals.index(max(totals))]
        second = max(
            sum(n for letter, n in letters.items() if letter in alphabet and letter not in best)
            for alphabet in alphabets
        )
        assert languages._covered(letters) == max(totals) + languages.SECOND_LANGUAGE_WEIGHT * second

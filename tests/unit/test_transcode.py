"""Incremental transcoding to UTF-8: chunk boundaries, BOMs, failures with exact offsets, replacements."""

from __future__ import annotations

import asyncio
import codecs
import pickle
from collections.abc import Iterable, Sequence
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from async_ingest.transform.transcode import DecodeFailure, Transcoder

# Characters of the languages our users' legacy exports are written in, plus CSV punctuation.
SAMPLES = {
    "western": "Ação é “cru” – œuvre à l’été € 9,90; Größe Straße; ¿Qué? ¡Sí! ñ ç ø å æ «» ½ º",
    "central": "Příliš žluťoučký kůň úpěl ďábelské ódy; Zażółć gęślą jaźń; Łódź, Kraków",
    "cyrillic": "Москва слезам не верит; Ирония судьбы, или С лёгким паром! ЁЖИК",
    "japanese": "千と千尋の神隠し、となりのトトロ。カタカナ ｶﾀｶﾅ ソ表能",
    "chinese": "霸王别姬，活着！悲情城市、臥虎藏龍。",
    "korean": "기생충 올드보이 살인의 추억 부산행",
    "astral": "😀🎬𝄞",  # outside the BMP: UTF-16 surrogate pairs, 4-byte UTF-8 and GB18030
}
CSV_CHARS = "abcXYZ019 |,;\"'\r\n\t"
ALL_TEXT = "".join(SAMPLES.values())

CODECS = [
    "utf-8",
    "cp1252",
    "iso8859-1",
    "iso8859-15",
    "cp1250",
    "koi8-r",
    "cp1251",
    "shift_jis",
    "euc_jp",
    "gb18030",
    "big5",
    "euc_kr",
    "utf-16-le",
    "utf-16-be",
    "utf-32-le",
    "utf-32-be",
]
BOMS = {
    "utf-8": codecs.BOM_UTF8,
    "utf-16-le": codecs.BOM_UTF16_LE,
    "utf-16-be": codecs.BOM_UTF16_BE,
    "utf-32-le": codecs.BOM_UTF32_LE,
    "utf-32-be": codecs.BOM_UTF32_BE,
}


def encodable(codec: str) -> str:
    chars = dict.fromkeys(CSV_CHARS + ALL_TEXT)
    return "".join(char for char in chars if _encodes(char, codec))


def _encodes(char: str, codec: str) -> bool:
    try:
        char.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def split(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    bounds = [0, *sorted(cut for cut in cuts if 0 < cut < len(data)), len(data)]
    return [data[a:b] for a, b in pairwise(bounds)]


def run(transcoder: Transcoder, chunks: Sequence[bytes]) -> bytes:
    return b"".join(transcoder.feed(chunk) for chunk in chunks) + transcoder.finish()


cut_points = st.lists(st.integers(min_value=0, max_value=10_000), max_size=40)
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("codec", CODECS)
@PROPERTY
@given(data=st.data())
def test_any_chunking_yields_the_utf8_text(codec: str, data: st.DataObject) -> None:
    text = data.draw(st.text(alphabet=encodable(codec), max_size=300), label="text")
    source = text.encode(codec)
    one_byte_chunks = data.draw(st.booleans(), label="one-byte chunks")
    cuts = range(len(source)) if one_byte_chunks else data.draw(cut_points, label="cuts")
    transcoder = Transcoder(codec)
    out = run(transcoder, split(source, cuts))
    assert out == text.encode("utf-8")
    assert (transcoder.bytes_in, transcoder.bytes_out, transcoder.replacements) == (len(source), len(out), 0)


@pytest.mark.parametrize("codec", sorted(BOMS))
@PROPERTY
@given(data=st.data())
def test_bom_is_stripped_wherever_the_chunks_split_it(codec: str, data: st.DataObject) -> None:
    text = data.draw(st.text(alphabet=encodable(codec), max_size=100), label="text")
    source = BOMS[codec] + text.encode(codec)
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=8), max_size=6) | cut_points, label="cuts")
    transcoder = Transcoder(codec, bom=BOMS[codec])
    out = run(transcoder, split(source, cuts))
    assert out == text.encode("utf-8")
    assert transcoder.bytes_in == len(source)


# A byte sequence each codec rejects where a character would start, and the text it is slipped into.
INVALID = {
    "utf-8": b"\xff",
    "cp1252": b"\x81",
    "cp1250": b"\x81",
    "cp1251": b"\x98",
    "shift_jis": b"\x80",
    "euc_jp": b"\xff",
    "gb18030": b"\xff",
    "big5": b"\xff",
    "euc_kr": b"\xff",
    "utf-16-le": b"\x00\xdc",  # a lone low surrogate
    "utf-16-be": b"\xdc\x00",
    "utf-32-le": b"\x00\x00\x11\x00",  # beyond U+10FFFF
    "utf-32-be": b"\x00\x11\x00\x00",
}


@pytest.mark.parametrize("codec", sorted(INVALID))
@PROPERTY
@given(data=st.data())
def test_strict_failure_reports_the_absolute_offset(codec: str, data: st.DataObject) -> None:
    before = data.draw(st.text(alphabet=encodable(codec), max_size=60), label="before")
    after = data.draw(st.text(alphabet=encodable(codec), min_size=1, max_size=20), label="after")
    bom = BOMS.get(codec, b"") if data.draw(st.booleans(), label="with bom") else b""
    prefix = bom + before.encode(codec)
    source = prefix + INVALID[codec] + after.encode(codec)
    # Cut right at, just before and just after the bad bytes too, and at random places.
    near = [len(prefix) + delta for delta in (-1, 0, 1)]
    cuts = data.draw(st.lists(st.sampled_from(near), max_size=3) | cut_points, label="cuts")
    transcoder = Transcoder(codec, bom=bom)
    with pytest.raises(DecodeFailure) as caught:
        run(transcoder, split(source, cuts))
    assert caught.value.offset == len(prefix)
    assert caught.value.encoding == codec


@pytest.mark.parametrize(
    ("codec", "text"),
    [("utf-8", "ab€"), ("shift_jis", "abソ"), ("gb18030", "ab😀"), ("utf-16-le", "ab😀"), ("euc_jp", "ab表")],
)
def test_truncated_character_at_eof(codec: str, text: str) -> None:
    source = text.encode(codec)[:-1]
    start = len(text[:-1].encode(codec))
    for chunks in ([source], [bytes([b]) for b in source]):
        strict = Transcoder(codec)
        with pytest.raises(DecodeFailure) as caught:
            run(strict, chunks)
        assert caught.value.offset == start
        replacing = Transcoder(codec, errors="replace")
        assert run(replacing, chunks) == (text[:-1] + "\ufffd").encode()
        assert replacing.replacements == 1


def test_decode_failure_message_and_pickling() -> None:
    transcoder = Transcoder("utf-8")
    transcoder.feed(b"id,name\n1,")
    with pytest.raises(DecodeFailure) as caught:
        transcoder.feed(b"S\xe3o Paulo\n")
    failure = caught.value
    assert failure.offset == 11
    assert str(failure) == f"cannot decode byte offset 11 as utf-8: {failure.reason}"
    assert "0xe3" in failure.reason
    assert isinstance(failure, ValueError)
    clone = pickle.loads(pickle.dumps(failure))
    assert (clone.offset, clone.encoding, clone.reason, str(clone)) == (
        11,
        "utf-8",
        failure.reason,
        str(failure),
    )


def test_replace_counts_substitutions_but_not_a_literal_replacement_character() -> None:
    transcoder = Transcoder("utf-8", errors="replace")
    out = run(transcoder, [b"ok \xef\xbf\xbd ", b"bad \xff and \xc3", b"(", b"\xfe)"])
    assert out == "ok \ufffd bad \ufffd and \ufffd(\ufffd)".encode()
    assert transcoder.replacements == 3  # the U+FFFD in the source is text, not a substitution
    assert transcoder.bytes_out == len(out)


@pytest.mark.parametrize(
    ("codec", "bad"), [("cp1252", b"\x81"), ("shift_jis", b"\x80"), ("utf-16-le", b"\x00\xdc")]
)
def test_replace_mode_in_other_codecs(codec: str, bad: bytes) -> None:
    transcoder = Transcoder(codec, errors="replace")
    source = "a".encode(codec) + bad + "b".encode(codec)
    assert run(transcoder, [source]) == "a\ufffdb".encode()
    assert transcoder.replacements == 1


async def test_replacement_counts_stay_with_their_transcoder_across_tasks() -> None:
    async def pump(transcoder: Transcoder, chunk: bytes, times: int) -> None:
        for _ in range(times):
            transcoder.feed(chunk)
            await asyncio.sleep(0)  # interleave with the other task

    one = Transcoder("utf-8", errors="replace")
    two = Transcoder("cp1252", errors="replace")
    await asyncio.gather(pump(one, b"x\xffy", 50), pump(two, b"a\x81\x81b", 50))
    assert (one.replacements, two.replacements) == (50, 100)


def test_utf8_passthrough_returns_the_source_bytes() -> None:
    transcoder = Transcoder("utf-8")
    ascii_chunk = b"id,title\r\n1,Alien\r\n"
    accented_chunk = "2,Amélie – “Paris”\r\n".encode()
    assert transcoder.feed(ascii_chunk) is ascii_chunk  # no copy, no validation
    assert transcoder.feed(accented_chunk) is accented_chunk  # validated, not re-encoded
    assert transcoder.feed(b"3,S\xc3") == b"3,S"  # the cut sequence waits for its last byte
    assert transcoder.feed(b"\xa3o\n") == b"\xc3\xa3o\n"
    assert transcoder.finish() == b""


@pytest.mark.parametrize("codec", ["cp1252", "iso8859-1", "shift_jis", "gb18030", "koi8-r"])
def test_ascii_chunk_passes_through_an_ascii_compatible_codec(codec: str) -> None:
    transcoder = Transcoder(codec)
    chunk = b"id,title\r\n1,Alien\r\n"
    assert transcoder.feed(chunk) is chunk


def test_ascii_byte_completing_a_pending_character_is_decoded() -> None:
    # In shift_jis "ソ" is 0x83 0x5C: its trail byte is ASCII backslash. A pure-ASCII chunk after a
    # pending lead byte must go through the decoder, not the passthrough.
    transcoder = Transcoder("shift_jis")
    assert transcoder.feed(b"\x83") == b""
    assert transcoder.feed(b"\\,") == "ソ,".encode()


@pytest.mark.parametrize("codec", ["utf-8", "cp1252", "utf-16-le", "shift_jis"])
def test_line_endings_and_quoted_newlines_are_kept_byte_for_byte(codec: str) -> None:
    text = 'id,title\r\n1,"Amélie\nPoulain"\r\n2,"line\r\nbreak"\n3,no final newline'
    if codec == "shift_jis":
        text = text.replace("é", "ソ")
    source = text.encode(codec)
    for chunks in ([source], split(source, range(0, len(source), 3))):
        assert run(Transcoder(codec), chunks) == text.encode("utf-8")


def test_bom_mismatch_is_content_and_short_streams_keep_their_bytes() -> None:
    transcoder = Transcoder("cp1252", bom=codecs.BOM_UTF8)
    assert run(transcoder, [b"\xef", b"\xbbX"]) == "ï»X".encode()
    assert transcoder.bytes_in == 3
    transcoder = Transcoder("cp1252", bom=codecs.BOM_UTF8)
    assert run(transcoder, [b"\xef\xbb"]) == "ï»".encode()  # the stream ended inside the "BOM"
    assert transcoder.bytes_in == 2


def test_bom_only_stream_is_empty_output() -> None:
    transcoder = Transcoder("utf-16-le", bom=codecs.BOM_UTF16_LE)
    assert run(transcoder, [b"\xff", b"\xfe"]) == b""
    assert (transcoder.bytes_in, transcoder.bytes_out) == (2, 0)


def test_bytearray_and_empty_chunks_are_accepted() -> None:
    transcoder = Transcoder("cp1252")
    assert transcoder.feed(bytearray(b"caf\xe9")) == "café".encode()
    assert transcoder.feed(b"") == b""
    assert transcoder.finish() == b""


def test_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="unknown encoding"):
        Transcoder("klingon-8")
    with pytest.raises(ValueError, match="not a text encoding"):
        Transcoder("base64")
    with pytest.raises(ValueError, match="errors"):
        Transcoder("utf-8", errors="ignore")
    transcoder = Transcoder("utf-8")
    transcoder.finish()
    with pytest.raises(RuntimeError):
        transcoder.feed(b"late")


def test_bom_sniffing_codec_without_bom_fails_cleanly() -> None:
    # Python's incremental 'utf-16' decoder refuses a stream without BOM; encoding.forced() maps
    # 'utf-16' to an explicit byte order, and a raw one still fails as a DecodeFailure.
    with pytest.raises(DecodeFailure) as caught:
        run(Transcoder("utf-16"), ["id".encode("utf-16-le")])
    assert caught.value.offset == 0


@pytest.mark.parametrize(
    ("codec", "source", "offset"),
    [
        ("utf-8", b"ab\xe2\x82X", 2),  # a sequence broken by an ASCII byte fails at its lead byte
        ("utf-8", "é".encode() + b"\xf0\x9f\x98Z", 2),
        ("shift_jis", b"ab\x83 c", 2),  # lead byte followed by a byte that cannot trail
        ("gb18030", b"ab\x81\x30\x81 ", 2),  # four-byte sequence broken after three bytes
        ("utf-16-le", "ab".encode("utf-16-le") + b"\x3d\xd8a\x00", 4),  # high surrogate, no low one
    ],
)
def test_failure_inside_a_sequence_reports_its_first_byte_for_every_cut(
    codec: str, source: bytes, offset: int
) -> None:
    chunkings = [
        [source],
        [bytes([b]) for b in source],
        *(split(source, [cut]) for cut in range(len(source))),
    ]
    for chunks in chunkings:
        with pytest.raises(DecodeFailure) as caught:
            run(Transcoder(codec), chunks)
        assert caught.value.offset == offset, chunks

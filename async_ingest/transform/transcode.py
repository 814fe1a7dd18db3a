"""Incremental transcoding of a source-encoded byte stream to UTF-8 (no I/O here).

The hot path of the pipeline, chunk by chunk through multi-GB files, so the cheapest correct route wins:

* UTF-8 source, strict: ``validate()`` checks bytes where they lie (the part buffer they were read
  into), in slices small enough for the CPU cache; nothing is copied or re-encoded.
* UTF-8 source through ``feed()``: the incremental decoder only validates; the original bytes are
  returned (no re-encode), holding back an incomplete trailing sequence until the next chunk. A
  pure-ASCII chunk with nothing pending skips validation (``bytes.isascii()`` runs at memory speed).
* ASCII-compatible source (cp1252, latin-1, shift_jis...): a pure-ASCII chunk with an idle decoder is
  already UTF-8 and is returned as is.
* Single-byte code page (cp1252, latin-1, koi8-r, mac-roman...): one table walk, bytes to UTF-8.
* Otherwise decode, then encode as UTF-8.

The per-byte walks (UTF-8 validation, the code page table) are async_ingest.transform's C core, used
when the extension is built (without it, the codec path below is the fastest). They only take the path
where the input is valid (or, in replace mode, any single-byte input): on a bad sequence the codec path
runs again from the same state, so every DecodeFailure message and offset is the codec's own.

Content is kept byte for byte: codecs do no newline translation, so CRLF, a missing final newline and
newlines inside quoted fields pass untouched. The BOM given by detection is stripped, never written.
"""

from __future__ import annotations

import codecs
from contextvars import ContextVar
from typing import Any

from async_ingest.transform import native
from async_ingest.transform.detect import codec_traits, resolve_codec
from async_ingest.transform.native import sbcs_table, sbcs_to_utf8, utf8_check

ERRORS_MODES = ("strict", "replace")
REPLACEMENT = "\ufffd"
SHOWN_BAD_BYTES_MAX = 4  # bytes quoted in a DecodeFailure reason
# Validation decodes to a throw-away str: 64 KiB slices keep it in the CPU cache and off the mmap
# path (measured: 2.2 s per GiB of accented text, against 3.6 s for 2 MiB at once).
VALIDATE_SLICE = 64 * 1024
# Without the C extension the walks' twins are the codecs plus a pass: the codec path alone is faster.
WALKS = native.IMPLEMENTATION == "native"
# The output buffer of the table walk is kept between chunks up to this size (feeds are 16 KiB slices);
# a bigger chunk (a small file transcoded whole) gets a buffer of its own.
KEPT_OUTPUT = 1024 * 1024

# Python's "replace" handler does not count. This one does, into the transcoder whose feed() is running:
# feed() is synchronous, so asyncio tasks sharing a thread never interleave inside it, and a ContextVar
# keeps threads apart.
COUNTING_REPLACE = "async_ingest.counting-replace"
_active: ContextVar[Transcoder | None] = ContextVar("async_ingest_active_transcoder", default=None)


def _counting_replace(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError | UnicodeEncodeError):
        raise exc
    transcoder = _active.get()
    if transcoder is not None:
        transcoder.replacements += 1
    return REPLACEMENT, exc.end


codecs.register_error(COUNTING_REPLACE, _counting_replace)

# Length of the UTF-8 sequence a lead byte starts (only leads the decoder can hold are looked up).
_SEQUENCE_LENGTH = {lead: 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4 for lead in range(0xC2, 0xF5)}


class DecodeFailure(ValueError):
    """Bytes that are not valid in the source encoding, at an absolute offset of the source file."""

    def __init__(self, offset: int, encoding: str, reason: str) -> None:
        super().__init__(f"cannot decode byte offset {offset} as {encoding}: {reason}")
        self.offset = offset
        self.encoding = encoding
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.offset, self.encoding, self.reason)


class Transcoder:
    """Incremental: source-encoded bytes in, UTF-8 bytes out, chunk by chunk. No BOM in the output.

    errors: "strict" raises DecodeFailure; "replace" substitutes U+FFFD and counts it in `replacements`.
    bom: bytes expected at the very start of the stream; stripped, but counted in `bytes_in`.
    A transcoder that raised DecodeFailure must not be fed again.
    """

    def __init__(self, encoding: str, *, errors: str = "strict", bom: bytes = b"") -> None:
        if errors not in ERRORS_MODES:
            raise ValueError(f"errors must be one of {', '.join(ERRORS_MODES)}, not {errors!r}")
        self.encoding = resolve_codec(encoding)
        self.errors = errors
        self.bytes_in = 0
        self.bytes_out = 0
        self.replacements = 0
        handler = COUNTING_REPLACE if errors == "replace" else "strict"
        self._decoder = codecs.getincrementaldecoder(self.encoding)(errors=handler)
        self._idle_state = self._decoder.getstate()
        traits = codec_traits(self.encoding)
        self._utf8 = self.encoding == "utf-8"
        self._ascii_passthrough = traits.ascii_compatible
        self._stateless = traits.single_byte
        self._table = sbcs_table(self.encoding) if traits.single_byte and WALKS else None
        self._output = bytearray()  # the table walk's output buffer, reused
        self._bom_pending = bytes(bom)  # BOM bytes still expected
        self._bom_held = b""  # BOM bytes matched so far, not yet known to be a whole BOM
        self._carry = b""  # UTF-8 path: incomplete trailing sequence, held by the decoder too
        self._finished = False

    def feed(self, data: bytes | bytearray | memoryview) -> bytes:
        """Transcode the next chunk; may return b"" while a multi-byte character is pending."""
        if self._finished:
            raise RuntimeError("feed() after finish()")
        if not isinstance(data, bytes):
            data = bytes(data)
        if self._bom_pending:
            data = self._strip_bom(data)
        if not data:
            return b""
        start = self.bytes_in
        self.bytes_in += len(data)
        out = self._utf8_chunk(data, start) if self._utf8 else self._chunk(data, start)
        self.bytes_out += len(out)
        return out

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def passes_through(self) -> bool:
        """True when valid input is its own output from here on, so validate() may replace feed().

        Strict UTF-8 only, once the BOM is dealt with and nothing is held back: replace mode must
        see where a bad sequence starts and ends to substitute it.
        """
        return (
            self._utf8
            and self.errors == "strict"
            and not (self._bom_pending or self._bom_held or self._carry or self._finished)
        )

    def validate(self, data: memoryview) -> None:
        """Check bytes that are their own output (see passes_through), counting them in and out.

        A sequence cut at the end stays pending in the decoder, so data may end anywhere.
        Raises DecodeFailure with the absolute offset of the first bad byte.
        """
        if not self.passes_through:
            raise RuntimeError("validate() needs passes_through")
        start = self.bytes_in
        if not self._check_utf8(data):  # invalid: the codec raises with its own offset and reason
            for offset in range(0, len(data), VALIDATE_SLICE):
                self._decode(data[offset : offset + VALIDATE_SLICE], start + offset)
        self.bytes_in += len(data)
        self.bytes_out += len(data)

    def finish(self) -> bytes:
        """Flush: a multi-byte character truncated at EOF raises DecodeFailure (strict) or becomes U+FFFD."""
        out = b""
        if self._bom_held:  # the stream ended inside the BOM: those bytes were content after all
            held, self._bom_pending, self._bom_held = self._bom_held, b"", b""
            self.bytes_in -= len(held)
            out = self.feed(held)
        self._finished = True
        text = self._decode(b"", self.bytes_in, final=True)
        flushed = self._encode(text, self.bytes_in) if text else b""
        self._carry = b""
        self.bytes_out += len(flushed)
        return out + flushed

    def _strip_bom(self, data: bytes) -> bytes:
        take = data[: len(self._bom_pending)]
        if self._bom_pending.startswith(take):
            self._bom_held += take
            self._bom_pending = self._bom_pending[len(take) :]
            self.bytes_in += len(take)
            if not self._bom_pending:
                self._bom_held = b""
            return data[len(take) :]
        # Not the expected BOM: the bytes held back are content.
        held, self._bom_pending, self._bom_held = self._bom_held, b"", b""
        self.bytes_in -= len(held)
        return held + data

    def _utf8_chunk(self, data: bytes, start: int) -> bytes:
        if not self._carry and data.isascii():
            return data
        if not self._check_utf8(data):  # invalid: the codec raises, or replaces and counts
            replaced_before = self.replacements
            text = self._decode(data, start)
            if self.replacements != replaced_before:
                self._carry = self._decoder.getstate()[0]
                return self._encode(text, start)
        pending = self._decoder.getstate()[0]
        # Valid: the source bytes are the output, minus the sequence still incomplete at the end.
        if self._carry:
            data = self._carry + data
        self._carry = pending
        return data[: len(data) - len(pending)] if pending else data

    def _chunk(self, data: bytes, start: int) -> bytes:
        if self._ascii_passthrough and data.isascii() and self._is_idle():
            return data
        if self._table is not None:
            out = self._sbcs(data)
            if out is not None:
                return out
        return self._encode(self._decode(data, start), start)

    def _sbcs(self, data: bytes) -> bytes | None:
        """A single-byte code page through its table; None at an undefined byte in strict mode."""
        assert self._table is not None
        needed = 3 * len(data)
        out = self._output if needed <= KEPT_OUTPUT else bytearray(needed)
        if len(out) < needed:
            out = self._output = bytearray(needed)
        written, replacements, error = sbcs_to_utf8(self._table, data, out, 0, self.errors)
        if error != -1:
            return None
        self.replacements += replacements
        return bytes(memoryview(out)[:written])

    def _check_utf8(self, data: bytes | memoryview) -> bool:
        """True if the bytes held in the decoder followed by data are valid UTF-8 (an incomplete
        sequence at the end then held in the decoder instead); False, with nothing changed, if not."""
        if not WALKS:
            return False
        pending = self._decoder.getstate()[0]
        view = memoryview(data)
        head = b""
        if pending:  # the held sequence completes within its missing bytes, or fails there
            head = pending + bytes(view[: _SEQUENCE_LENGTH[pending[0]] - len(pending)])
            view = view[len(head) - len(pending) :]
            valid, error, _ = utf8_check(head)
            if error != -1:
                return False
            if valid < len(head):  # data ended before the sequence did
                self._decoder.setstate((head, 0))
                return True
        valid, error, _ = utf8_check(view)
        if error != -1:
            return False
        self._decoder.setstate((bytes(view[valid:]), 0))
        return True

    def _is_idle(self) -> bool:
        # A shift_jis lead byte left pending would pair with the next ASCII byte: no passthrough then.
        return self._stateless or self._decoder.getstate() == self._idle_state

    def _decode(self, data: bytes | memoryview, start: int, final: bool = False) -> str:
        token = _active.set(self)
        try:
            return str(self._decoder.decode(data, final))
        except UnicodeDecodeError as exc:
            raise self._failure(exc, start, len(data)) from None
        except UnicodeError as exc:  # e.g. 'utf-16' on a stream without BOM
            raise DecodeFailure(start, self.encoding, str(exc)) from None
        finally:
            _active.reset(token)

    def _encode(self, text: str, start: int) -> bytes:
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            # Only exotic codecs (unicode_escape...) can yield an unpaired surrogate.
            if self.errors == "strict":
                raise DecodeFailure(start, self.encoding, "decodes to an unpaired surrogate") from None
        token = _active.set(self)
        try:
            return text.encode("utf-8", COUNTING_REPLACE)
        finally:
            _active.reset(token)

    def _failure(self, exc: UnicodeDecodeError, start: int, length: int) -> DecodeFailure:
        # The decoder reports positions in (bytes it carried from earlier chunks + this chunk).
        carried = len(exc.object) - length
        bad = bytes(exc.object[exc.start : exc.end])[:SHOWN_BAD_BYTES_MAX]
        shown = " ".join(f"0x{byte:02x}" for byte in bad)
        return DecodeFailure(start - carried + exc.start, self.encoding, f"{exc.reason} {shown}".strip())

/* Per-byte work of async_ingest at memory speed: UTF-8 validation, single-byte code page -> UTF-8,
 * UTF-16 -> UTF-8 and the CSV check's scan. The pure-Python twin (pytwin.py) defines the semantics;
 * tests/unit/test_native_equivalence.py holds the two to identical results.
 *
 * Portable C99: 64-byte blocks become bit masks (SSE2 on x86_64, SWAR on uint64_t elsewhere), ASCII
 * runs move 8 or 16 bytes at a time. No -march flags: the wheel may run on any CPU of its architecture.
 * Every walk over a caller's buffer releases the GIL (above RELEASE_GIL_FROM bytes: below that the
 * hand-over costs more than the walk).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#define HAVE_SSE2 1
#endif

#define RELEASE_GIL_FROM 8192
#define FIRST_RAGGED 5
#define NL 0x0A
#define CR 0x0D

static const uint64_t HIGH_BITS = 0x8080808080808080ULL;
static const uint64_t LOW_SEVEN = 0x7F7F7F7F7F7F7F7FULL;
static const uint64_t ONES = 0x0101010101010101ULL;

static inline uint64_t load64(const uint8_t *p) {
    uint64_t x;
    memcpy(&x, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);  /* byte j of the buffer in bits 8j..8j+7, as on little-endian */
#endif
    return x;
}

static inline int popcount64(uint64_t x) {
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_popcountll(x);
#else
    x = x - ((x >> 1) & 0x5555555555555555ULL);
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
    return (int)((x * ONES) >> 56);
#endif
}

static inline int ctz64(uint64_t x) { /* x != 0 */
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_ctzll(x);
#else
    int n = 0;
    while (!(x & 1)) {
        x >>= 1;
        n++;
    }
    return n;
#endif
}

/* Bits from..63 set (from in 0..64). */
static inline uint64_t from_bit(int from) { return from >= 64 ? 0 : (~0ULL << from); }
/* Bits 0..to-1 set (to in 0..64). */
static inline uint64_t below_bit(int to) { return to >= 64 ? ~0ULL : ((1ULL << to) - 1); }

/* 8 bits, bit j set when byte j of x equals c (exact: no false positives from borrows). */
static inline uint64_t eq_bits8(uint64_t x, uint8_t c) {
    uint64_t v = x ^ (ONES * c);
    uint64_t t = ~(((v & LOW_SEVEN) + LOW_SEVEN) | v | LOW_SEVEN);  /* 0x80 where the byte is 0 */
    return ((t >> 7) * 0x0102040810204080ULL) >> 56;
}

/* Masks of 64 bytes equal to a, b and c. */
static inline void masks64(const uint8_t *p, uint8_t a, uint8_t b, uint8_t c, uint64_t *ma, uint64_t *mb,
                           uint64_t *mc) {
#ifdef HAVE_SSE2
    const __m128i va = _mm_set1_epi8((char)a), vb = _mm_set1_epi8((char)b), vc = _mm_set1_epi8((char)c);
    uint64_t ra = 0, rb = 0, rc = 0;
    for (int k = 0; k < 4; k++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(p + 16 * k));
        ra |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, va)) << (16 * k);
        rb |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, vb)) << (16 * k);
        rc |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, vc)) << (16 * k);
    }
    *ma = ra;
    *mb = rb;
    *mc = rc;
#else
    uint64_t ra = 0, rb = 0, rc = 0;
    for (int k = 0; k < 8; k++) {
        uint64_t x = load64(p + 8 * k);
        ra |= eq_bits8(x, a) << (8 * k);
        rb |= eq_bits8(x, b) << (8 * k);
        rc |= eq_bits8(x, c) << (8 * k);
    }
    *ma = ra;
    *mb = rb;
    *mc = rc;
#endif
}

/* Length of the ASCII run at p (at most n). */
static inline Py_ssize_t ascii_run(const uint8_t *p, Py_ssize_t n) {
    Py_ssize_t i = 0;
#ifdef HAVE_SSE2
    while (i + 16 <= n) {
        int m = _mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(p + i)));
        if (m)
            return i + ctz64((uint64_t)(uint32_t)m);
        i += 16;
    }
#endif
    while (i + 8 <= n) {
        uint64_t x = load64(p + i) & HIGH_BITS;
        if (x)
            return i + (ctz64(x) >> 3);
        i += 8;
    }
    while (i < n && p[i] < 0x80)
        i++;
    return i;
}

/* ---------------------------------------------------------------------------------------------------- */
/* UTF-8 validation, as CPython's strict incremental decoder.                                          */

typedef struct {
    Py_ssize_t valid;  /* bytes that decode (up to the error or the incomplete tail) */
    Py_ssize_t error;  /* offset of the first bad sequence, -1 if none */
    Py_ssize_t tail;   /* incomplete sequence held back at the end */
} utf8_result;

static inline int cont(uint8_t c) { return (c & 0xC0) == 0x80; }

static utf8_result utf8_walk(const uint8_t *p, Py_ssize_t n) {
    utf8_result r = {0, -1, 0};
    Py_ssize_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) {
            i += ascii_run(p + i, n - i);
            continue;
        }
        uint8_t c = p[i];
        Py_ssize_t left = n - i;
        if (c < 0xC2) {
            goto bad;
        } else if (c < 0xE0) {
            if (left < 2)
                goto incomplete;
            if (!cont(p[i + 1]))
                goto bad;
            i += 2;
        } else if (c < 0xF0) {
            if (left < 2)
                goto incomplete;
            uint8_t c1 = p[i + 1];
            int ok = c == 0xE0 ? (c1 >= 0xA0 && c1 <= 0xBF) : c == 0xED ? (c1 >= 0x80 && c1 <= 0x9F) : cont(c1);
            if (!ok) {
                /* CPython holds back a truncated surrogate (ED A0..BF) at the very end, and fails it
                 * only once the next byte (or the end of the stream) is seen. */
                if (c == 0xED && left == 2 && c1 >= 0xA0 && c1 <= 0xBF)
                    goto incomplete;
                goto bad;
            }
            if (left < 3)
                goto incomplete;
            if (!cont(p[i + 2]))
                goto bad;
            i += 3;
        } else if (c < 0xF5) {
            if (left < 2)
                goto incomplete;
            uint8_t c1 = p[i + 1];
            int ok = c == 0xF0 ? (c1 >= 0x90 && c1 <= 0xBF) : c == 0xF4 ? (c1 >= 0x80 && c1 <= 0x8F) : cont(c1);
            if (!ok)
                goto bad;
            if (left < 3)
                goto incomplete;
            if (!cont(p[i + 2]))
                goto bad;
            if (left < 4)
                goto incomplete;
            if (!cont(p[i + 3]))
                goto bad;
            i += 4;
        } else {
            goto bad;
        }
    }
    r.valid = n;
    return r;
incomplete:
    r.valid = i;
    r.tail = n - i;
    return r;
bad:
    r.valid = i;
    r.error = i;
    return r;
}

/* Blocks of 16 bytes checked with SSSE3 table lookups (Keiser & Lemire, "Validating UTF-8 in less than
 * one instruction per byte", 2021). SSSE3 is not in x86_64's baseline: the function is compiled for it
 * alone and called only when the running CPU has it (a plain -O3 build, any x86_64 CPU). It only says
 * how far the input is surely valid; the scalar walk above finishes from there and names the exact
 * error offset or incomplete tail, so both paths give CPython's answer. */
#if defined(HAVE_SSE2) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_SSSE3_PATH 1
#include <tmmintrin.h>

#define TOO_SHORT (1 << 0)
#define TOO_LONG (1 << 1)
#define OVERLONG_3 (1 << 2)
#define TOO_LARGE (1 << 3)
#define SURROGATE (1 << 4)
#define OVERLONG_2 (1 << 5)
#define TOO_LARGE_1000 (1 << 6)
#define OVERLONG_4 (1 << 6)
#define TWO_CONTS (1 << 7)
#define CARRY (TOO_SHORT | TOO_LONG | TWO_CONTS)

__attribute__((target("ssse3"))) static inline __m128i shr4(__m128i x) {
    return _mm_and_si128(_mm_srli_epi16(x, 4), _mm_set1_epi8(0x0F));
}

static const uint8_t BYTE_1_HIGH[16] = {
    TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TWO_CONTS, TWO_CONTS, TWO_CONTS,
    TWO_CONTS, TOO_SHORT | OVERLONG_2, TOO_SHORT, TOO_SHORT | OVERLONG_3 | SURROGATE,
    TOO_SHORT | TOO_LARGE | TOO_LARGE_1000 | OVERLONG_4};
static const uint8_t BYTE_1_LOW[16] = {
    CARRY | OVERLONG_3 | OVERLONG_2 | OVERLONG_4, CARRY | OVERLONG_2, CARRY, CARRY, CARRY | TOO_LARGE,
    CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000 | SURROGATE, CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000};
static const uint8_t BYTE_2_HIGH[16] = {
    TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,
    TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE_1000 | OVERLONG_4,
    TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE, TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
    TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT};
/* A block ending in a lead byte that needs more bytes than are left in it: its continuation is in the
 * next block, checked there; before an ASCII block (which skips the check) it is an error. */
static const uint8_t INCOMPLETE_MAX[32] = {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
                                           255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
                                           255, 255, 255, 255, 255, 255, 255, 0xF0 - 1, 0xE0 - 1, 0xC0 - 1};

/* Bad-sequence bits of each byte of `input` given the 16 bytes before it. */
__attribute__((target("ssse3"))) static inline __m128i block_errors(__m128i input, __m128i prev_input) {
    const __m128i byte_1_high_table = _mm_loadu_si128((const __m128i *)BYTE_1_HIGH);
    const __m128i byte_1_low_table = _mm_loadu_si128((const __m128i *)BYTE_1_LOW);
    const __m128i byte_2_high_table = _mm_loadu_si128((const __m128i *)BYTE_2_HIGH);
    __m128i prev1 = _mm_alignr_epi8(input, prev_input, 15);
    __m128i byte_1_high = _mm_shuffle_epi8(byte_1_high_table, shr4(prev1));
    __m128i byte_1_low = _mm_shuffle_epi8(byte_1_low_table, _mm_and_si128(prev1, _mm_set1_epi8(0x0F)));
    __m128i byte_2_high = _mm_shuffle_epi8(byte_2_high_table, shr4(input));
    __m128i special = _mm_and_si128(_mm_and_si128(byte_1_high, byte_1_low), byte_2_high);
    __m128i prev2 = _mm_alignr_epi8(input, prev_input, 14);
    __m128i prev3 = _mm_alignr_epi8(input, prev_input, 13);
    __m128i third = _mm_subs_epu8(prev2, _mm_set1_epi8((char)(0xE0 - 0x80))); /* >= 0x80 iff 111_____ */
    __m128i fourth = _mm_subs_epu8(prev3, _mm_set1_epi8((char)(0xF0 - 0x80))); /* >= 0x80 iff 1111____ */
    __m128i must23_80 = _mm_and_si128(_mm_or_si128(third, fourth), _mm_set1_epi8((char)0x80));
    return _mm_xor_si128(must23_80, special);
}

/* Bytes of p[0:n] surely valid and ending on a character boundary (0 .. n). */
__attribute__((target("ssse3"))) static Py_ssize_t utf8_valid_prefix_ssse3(const uint8_t *p, Py_ssize_t n) {
    const __m128i max_value = _mm_loadu_si128((const __m128i *)(INCOMPLETE_MAX + 16));
    __m128i prev = _mm_setzero_si128(), prev_incomplete = _mm_setzero_si128();
    const __m128i zero = _mm_setzero_si128();
    Py_ssize_t i = 0;
    /* 64 bytes at a time: one test skips an ASCII stretch; otherwise all four blocks are checked
     * without a branch between them. */
    for (; i + 64 <= n; i += 64) {
        __m128i in0 = _mm_loadu_si128((const __m128i *)(p + i));
        __m128i in1 = _mm_loadu_si128((const __m128i *)(p + i + 16));
        __m128i in2 = _mm_loadu_si128((const __m128i *)(p + i + 32));
        __m128i in3 = _mm_loadu_si128((const __m128i *)(p + i + 48));
        __m128i error;
        if (!_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(in0, in1), _mm_or_si128(in2, in3)))) {
            error = prev_incomplete;
            prev_incomplete = zero;
        } else {
            error = _mm_or_si128(_mm_or_si128(block_errors(in0, prev), block_errors(in1, in0)),
                                 _mm_or_si128(block_errors(in2, in1), block_errors(in3, in2)));
            prev_incomplete = _mm_subs_epu8(in3, max_value);
        }
        prev = in3;
        if (_mm_movemask_epi8(_mm_cmpeq_epi8(error, zero)) != 0xFFFF)
            break; /* the blocks before these 64 bytes are valid */
    }
    /* Back off 3 bytes, then to a character's first byte: every sequence before it was checked whole. */
    Py_ssize_t safe = i >= 3 ? i - 3 : 0;
    while (safe > 0 && cont(p[safe]))
        safe--;
    return safe;
}

/* The same with AVX2's 32-byte blocks, where the CPU has it. */
#include <immintrin.h>

__attribute__((target("avx2"))) static inline __m256i shr4_avx2(__m256i x) {
    return _mm256_and_si256(_mm256_srli_epi16(x, 4), _mm256_set1_epi8(0x0F));
}

__attribute__((target("avx2"))) static inline __m256i block_errors_avx2(__m256i input, __m256i prev_input) {
    const __m256i byte_1_high_table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)BYTE_1_HIGH));
    const __m256i byte_1_low_table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)BYTE_1_LOW));
    const __m256i byte_2_high_table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)BYTE_2_HIGH));
    __m256i joined = _mm256_permute2x128_si256(prev_input, input, 0x21); /* [prev high, input low] */
    __m256i prev1 = _mm256_alignr_epi8(input, joined, 15);
    __m256i byte_1_high = _mm256_shuffle_epi8(byte_1_high_table, shr4_avx2(prev1));
    __m256i byte_1_low = _mm256_shuffle_epi8(byte_1_low_table, _mm256_and_si256(prev1, _mm256_set1_epi8(0x0F)));
    __m256i byte_2_high = _mm256_shuffle_epi8(byte_2_high_table, shr4_avx2(input));
    __m256i special = _mm256_and_si256(_mm256_and_si256(byte_1_high, byte_1_low), byte_2_high);
    __m256i prev2 = _mm256_alignr_epi8(input, joined, 14);
    __m256i prev3 = _mm256_alignr_epi8(input, joined, 13);
    __m256i third = _mm256_subs_epu8(prev2, _mm256_set1_epi8((char)(0xE0 - 0x80)));
    __m256i fourth = _mm256_subs_epu8(prev3, _mm256_set1_epi8((char)(0xF0 - 0x80)));
    __m256i must23_80 = _mm256_and_si256(_mm256_or_si256(third, fourth), _mm256_set1_epi8((char)0x80));
    return _mm256_xor_si256(must23_80, special);
}

__attribute__((target("avx2"))) static Py_ssize_t utf8_valid_prefix_avx2(const uint8_t *p, Py_ssize_t n) {
    const __m256i max_value = _mm256_loadu_si256((const __m256i *)INCOMPLETE_MAX);
    __m256i prev = _mm256_setzero_si256(), prev_incomplete = _mm256_setzero_si256();
    Py_ssize_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m256i in0 = _mm256_loadu_si256((const __m256i *)(p + i));
        __m256i in1 = _mm256_loadu_si256((const __m256i *)(p + i + 32));
        __m256i error;
        if (!_mm256_movemask_epi8(_mm256_or_si256(in0, in1))) {
            error = prev_incomplete;
            prev_incomplete = _mm256_setzero_si256();
        } else {
            error = _mm256_or_si256(block_errors_avx2(in0, prev), block_errors_avx2(in1, in0));
            prev_incomplete = _mm256_subs_epu8(in1, max_value);
        }
        prev = in1;
        if (!_mm256_testz_si256(error, error))
            break; /* the blocks before these 64 bytes are valid */
    }
    Py_ssize_t safe = i >= 3 ? i - 3 : 0;
    while (safe > 0 && cont(p[safe]))
        safe--;
    return safe;
}

static int have_ssse3 = 0, have_avx2 = 0;
#endif

static utf8_result utf8_fast(const uint8_t *p, Py_ssize_t n) {
#ifdef HAVE_SSSE3_PATH
    if ((have_avx2 || have_ssse3) && n >= 64) {
        Py_ssize_t safe = have_avx2 ? utf8_valid_prefix_avx2(p, n) : utf8_valid_prefix_ssse3(p, n);
        utf8_result r = utf8_walk(p + safe, n - safe);
        r.valid += safe;
        if (r.error != -1)
            r.error += safe;
        return r;
    }
#endif
    return utf8_walk(p, n);
}

static PyObject *utf8_check(PyObject *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    utf8_result r;
    if (view.len >= RELEASE_GIL_FROM) {
        Py_BEGIN_ALLOW_THREADS
        r = utf8_fast((const uint8_t *)view.buf, view.len);
        Py_END_ALLOW_THREADS
    } else {
        r = utf8_fast((const uint8_t *)view.buf, view.len);
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(nnn)", r.valid, r.error, r.tail);
}

/* ---------------------------------------------------------------------------------------------------- */
/* Single-byte code page -> UTF-8 through a 256 x 4 byte table: [length (0: undefined), UTF-8 bytes].  */

static const uint8_t REPLACEMENT_UTF8[3] = {0xEF, 0xBF, 0xBD};

typedef struct {
    Py_ssize_t in;  /* bytes consumed */
    Py_ssize_t out; /* bytes written */
    Py_ssize_t replacements;
    Py_ssize_t error; /* offset of the first undefined byte (strict), -1 if none */
} sbcs_result;

/* The table unpacked for the walk: each entry's UTF-8 bytes as one 4-byte store, its length, and
 * whether the byte is undefined. */
typedef struct {
    uint32_t bytes[256];
    uint8_t length[256];
    uint8_t undefined[256];
    int ascii_identity; /* bytes 0-127 map to themselves: ASCII runs are copied as they are */
} sbcs_table;

static void sbcs_unpack(const uint8_t *t, int replace, sbcs_table *u) {
    u->ascii_identity = 1;
    for (int b = 0; b < 256; b++) {
        uint8_t entry[4] = {0, 0, 0, 0};
        const uint8_t *e = t + 4 * b;
        u->undefined[b] = e[0] == 0;
        if (e[0]) {
            memcpy(entry, e + 1, 3);
            u->length[b] = e[0];
        } else {
            memcpy(entry, REPLACEMENT_UTF8, 3);
            u->length[b] = replace ? 3 : 0;
        }
        memcpy(&u->bytes[b], entry, 4); /* stored back with memcpy: byte order kept on any CPU */
        if (b < 0x80 && !(e[0] == 1 && e[1] == b))
            u->ascii_identity = 0;
    }
}

/* One byte at a time, every check made (the end of the output, an undefined byte in strict mode). */
static int sbcs_careful(const sbcs_table *u, int replace, const uint8_t *p, Py_ssize_t *i, Py_ssize_t end,
                        uint8_t *out, Py_ssize_t *o, sbcs_result *r) {
    for (; *i < end; (*i)++) {
        uint8_t b = p[*i];
        if (u->undefined[b]) {
            if (!replace) {
                r->error = *i;
                return 0;
            }
            r->replacements++;
        }
        uint8_t entry[4];
        memcpy(entry, &u->bytes[b], 4);
        memcpy(out + *o, entry, u->length[b]);
        *o += u->length[b];
    }
    return 1;
}

#define SBCS_BLOCK 16

/* Blocks of 16 bytes: an ASCII block is copied as is, any other goes through the table without a
 * branch per byte (a 4-byte store, then the output advances by the entry's length), which keeps text
 * with a non-ASCII letter every few bytes free of mispredicted branches. */
static sbcs_result sbcs_walk(const sbcs_table *u, int replace, const uint8_t *p, Py_ssize_t n, uint8_t *out,
                             Py_ssize_t capacity) {
    sbcs_result r = {0, 0, 0, -1};
    Py_ssize_t i = 0, o = 0;
    /* The 4-byte stores may write one byte past an entry: room for a whole block of them is kept. */
    while (i + SBCS_BLOCK <= n && capacity - o >= 4 * SBCS_BLOCK) {
        uint64_t a, b;
        memcpy(&a, p + i, 8);
        memcpy(&b, p + i + 8, 8);
        if (u->ascii_identity && !((a | b) & HIGH_BITS)) {
            memcpy(out + o, p + i, SBCS_BLOCK);
            i += SBCS_BLOCK;
            o += SBCS_BLOCK;
            continue;
        }
        Py_ssize_t block_o = o;
        unsigned bad = 0;
        for (int k = 0; k < SBCS_BLOCK; k++) {
            uint8_t c = p[i + k];
            memcpy(out + o, &u->bytes[c], 4);
            o += u->length[c];
            bad |= u->undefined[c];
        }
        if (bad) { /* counted (replace), or the exact offset found (strict), byte by byte */
            Py_ssize_t from = i;
            o = block_o;
            if (!sbcs_careful(u, replace, p, &from, i + SBCS_BLOCK, out, &o, &r)) {
                r.in = from;
                r.out = o;
                return r;
            }
        }
        i += SBCS_BLOCK;
    }
    sbcs_careful(u, replace, p, &i, n, out, &o, &r);
    r.in = i;
    r.out = o;
    return r;
}

static PyObject *sbcs_to_utf8(PyObject *self, PyObject *args) {
    Py_buffer table, data, out;
    Py_ssize_t offset;
    const char *errors;
    if (!PyArg_ParseTuple(args, "y*y*w*ns", &table, &data, &out, &offset, &errors))
        return NULL;
    PyObject *result = NULL;
    int replace = strcmp(errors, "replace") == 0;
    if (!replace && strcmp(errors, "strict") != 0) {
        PyErr_Format(PyExc_ValueError, "errors must be 'strict' or 'replace', not '%s'", errors);
        goto end;
    }
    if (table.len != 1024) {
        PyErr_SetString(PyExc_ValueError, "table must hold 256 entries of 4 bytes");
        goto end;
    }
    const uint8_t *t = (const uint8_t *)table.buf;
    int longest = replace ? 3 : 1;
    for (int b = 0; b < 256; b++) {
        if (t[4 * b] > 3) {
            PyErr_SetString(PyExc_ValueError, "table entries are 0 to 3 bytes long");
            goto end;
        }
        if (t[4 * b] > longest)
            longest = t[4 * b];
    }
    sbcs_table unpacked;
    sbcs_unpack(t, replace, &unpacked);
    if (offset < 0 || offset > out.len || (out.len - offset) / longest < data.len) {
        PyErr_Format(PyExc_ValueError, "output buffer too small: %zd bytes from offset %zd needed",
                     data.len * longest, offset);
        goto end;
    }
    sbcs_result r;
    uint8_t *target = (uint8_t *)out.buf + offset;
    if (data.len >= RELEASE_GIL_FROM) {
        Py_BEGIN_ALLOW_THREADS
        r = sbcs_walk(&unpacked, replace, (const uint8_t *)data.buf, data.len, target, out.len - offset);
        Py_END_ALLOW_THREADS
    } else {
        r = sbcs_walk(&unpacked, replace, (const uint8_t *)data.buf, data.len, target, out.len - offset);
    }
    result = Py_BuildValue("(nnn)", r.out, r.replacements, r.error);
end:
    PyBuffer_Release(&table);
    PyBuffer_Release(&data);
    PyBuffer_Release(&out);
    return result;
}

/* ---------------------------------------------------------------------------------------------------- */
/* UTF-16 (LE or BE) -> UTF-8, as CPython's incremental decoder: an unpaired surrogate is an error (or   */
/* one U+FFFD per bad unit in replace mode); an odd byte or a high surrogate at the end is held back.  */

typedef struct {
    Py_ssize_t in, out, replacements, error, tail;
} utf16_result;

static utf16_result utf16_walk(const uint8_t *p, Py_ssize_t n, int big, int replace, uint8_t *out) {
    utf16_result r = {0, 0, 0, -1, 0};
    Py_ssize_t i = 0, o = 0;
    int lo = big ? 1 : 0, hi = big ? 0 : 1;
    while (i + 2 <= n) {
        uint32_t u = (uint32_t)p[i + lo] | ((uint32_t)p[i + hi] << 8);
        if (u < 0x80) {
            out[o++] = (uint8_t)u;
            i += 2;
        } else if (u < 0x800) {
            out[o++] = (uint8_t)(0xC0 | (u >> 6));
            out[o++] = (uint8_t)(0x80 | (u & 0x3F));
            i += 2;
        } else if (u < 0xD800 || u > 0xDFFF) {
            out[o++] = (uint8_t)(0xE0 | (u >> 12));
            out[o++] = (uint8_t)(0x80 | ((u >> 6) & 0x3F));
            out[o++] = (uint8_t)(0x80 | (u & 0x3F));
            i += 2;
        } else if (u <= 0xDBFF) {
            if (i + 4 > n) {
                break; /* a high surrogate at the end waits for its pair */
            }
            uint32_t v = (uint32_t)p[i + 2 + lo] | ((uint32_t)p[i + 2 + hi] << 8);
            if (v < 0xDC00 || v > 0xDFFF)
                goto bad;
            uint32_t cp = 0x10000 + ((u - 0xD800) << 10) + (v - 0xDC00);
            out[o++] = (uint8_t)(0xF0 | (cp >> 18));
            out[o++] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
            out[o++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
            out[o++] = (uint8_t)(0x80 | (cp & 0x3F));
            i += 4;
        } else {
            goto bad;
        }
        continue;
    bad:
        if (!replace) {
            r.error = i;
            break;
        }
        memcpy(out + o, REPLACEMENT_UTF8, 3);
        o += 3;
        r.replacements++;
        i += 2;
    }
    r.in = i;
    r.out = o;
    r.tail = r.error == -1 ? n - i : 0;
    return r;
}

static PyObject *utf16_to_utf8(PyObject *self, PyObject *args) {
    Py_buffer data, out;
    Py_ssize_t offset;
    int big;
    const char *errors;
    if (!PyArg_ParseTuple(args, "py*w*ns", &big, &data, &out, &offset, &errors))
        return NULL;
    PyObject *result = NULL;
    int replace = strcmp(errors, "replace") == 0;
    if (!replace && strcmp(errors, "strict") != 0) {
        PyErr_Format(PyExc_ValueError, "errors must be 'strict' or 'replace', not '%s'", errors);
        goto end;
    }
    /* Each 2-byte unit gives at most 3 bytes (a 4-byte pair gives 4). */
    if (offset < 0 || offset > out.len || (out.len - offset) / 3 < (data.len + 1) / 2) {
        PyErr_Format(PyExc_ValueError, "output buffer too small: %zd bytes from offset %zd needed",
                     (data.len + 1) / 2 * 3, offset);
        goto end;
    }
    utf16_result r;
    uint8_t *target = (uint8_t *)out.buf + offset;
    if (data.len >= RELEASE_GIL_FROM) {
        Py_BEGIN_ALLOW_THREADS
        r = utf16_walk((const uint8_t *)data.buf, data.len, big, replace, target);
        Py_END_ALLOW_THREADS
    } else {
        r = utf16_walk((const uint8_t *)data.buf, data.len, big, replace, target);
    }
    result = Py_BuildValue("(nnnn)", r.out, r.replacements, r.error, r.tail);
end:
    PyBuffer_Release(&data);
    PyBuffer_Release(&out);
    return result;
}

/* ---------------------------------------------------------------------------------------------------- */
/* The CSV check's scan (csvcheck.py): RFC 4180 as Python's csv module reads it. A quote opens a quoted */
/* field only right after a delimiter or a line end; inside, a quote closes and an immediately         */
/* following quote reopens (a doubled quote); LF ends a row outside quotes, a CR is data; a row with   */
/* no byte other than CR is a blank line.                                                              */

#define STATE_ITEMS 17

typedef struct {
    long delim, quote, header;
    long long line, row_line, row_delims;
    int row_content, in_quote;
    long long quote_line;
    int after_close;
    long prev;
    long long rows, records, columns, ragged_rows, blank_lines;
    long long first_ragged[FIRST_RAGGED];
    int n_ragged;
} csv_state;

static inline void end_row(csv_state *s) {
    if (!s->row_content) {
        s->blank_lines++;
        return;
    }
    s->records++;
    long long fields = s->row_delims + 1;
    if (s->columns == 0) {
        s->columns = fields;
        if (s->header)
            return;
    }
    s->rows++;
    if (fields != s->columns) {
        s->ragged_rows++;
        if (s->n_ragged < FIRST_RAGGED)
            s->first_ragged[s->n_ragged++] = s->row_line;
    }
}

static inline int only_cr(const uint8_t *p, Py_ssize_t from, Py_ssize_t to) {
    for (Py_ssize_t i = from; i < to; i++)
        if (p[i] != CR)
            return 0;
    return 1;
}

/* Specials in one 64-byte block (bits of mq: quotes, mn: line ends, md: delimiters). */
static void csv_block(csv_state *s, const uint8_t *p, Py_ssize_t base, uint64_t md, uint64_t mq, uint64_t mn,
                      Py_ssize_t *row_start, Py_ssize_t *close_pos) {
    /* A byte is a quote first, else a delimiter, else a line end: the order of csvcheck's tests. */
    md &= ~mq;
    mn &= ~(mq | md);
    int from = 0;
    while (from < 64) {
        uint64_t live = from_bit(from);
        if (s->in_quote) {
            uint64_t m = mq & live;
            if (!m) {
                s->line += popcount64(mn & live);
                return;
            }
            int k = ctz64(m);
            s->line += popcount64(mn & live & below_bit(k));
            s->in_quote = 0;
            *close_pos = base + k;
            from = k + 1;
            continue;
        }
        uint64_t m = (mq | mn) & live;
        if (!m) {
            int added = popcount64(md & live);
            s->row_delims += added;
            s->row_content |= added != 0;
            return;
        }
        int k = ctz64(m);
        int added = popcount64(md & live & below_bit(k));
        s->row_delims += added;
        s->row_content |= added != 0;
        Py_ssize_t at = base + k;
        if ((mn >> k) & 1) {
            if (!s->row_content)
                s->row_content = !only_cr(p, *row_start, at);
            end_row(s);
            s->line++;
            s->row_line = s->line;
            s->row_delims = 0;
            s->row_content = 0;
            *row_start = at + 1;
        } else {
            long before = at > 0 ? p[at - 1] : s->prev;
            if (*close_pos == at - 1) {
                s->in_quote = 1; /* "" inside a quoted field */
            } else if (before == s->delim || before == NL) {
                s->in_quote = 1;
                s->quote_line = s->line;
            }
            s->row_content = 1;
        }
        from = k + 1;
    }
}

static void csv_walk(csv_state *s, const uint8_t *p, Py_ssize_t n) {
    Py_ssize_t row_start = 0;                       /* the current row's first byte in this chunk */
    Py_ssize_t close_pos = s->after_close ? -1 : -2; /* last closing quote; -1: previous chunk's end */
    uint8_t d = (uint8_t)s->delim, q = (uint8_t)s->quote;
    Py_ssize_t base = 0;
    for (; base + 64 <= n; base += 64) {
        uint64_t md, mq, mn;
        masks64(p + base, d, q, NL, &md, &mq, &mn);
        csv_block(s, p, base, md, mq, mn, &row_start, &close_pos);
    }
    if (base < n) {
        uint64_t md = 0, mq = 0, mn = 0;
        for (Py_ssize_t i = base; i < n; i++) {
            uint64_t bit = 1ULL << (i - base);
            mq |= p[i] == q ? bit : 0;
            md |= p[i] == d ? bit : 0;
            mn |= p[i] == NL ? bit : 0;
        }
        csv_block(s, p, base, md, mq, mn, &row_start, &close_pos);
    }
    if (!s->row_content && !s->in_quote)
        s->row_content = !only_cr(p, row_start, n);
    s->after_close = close_pos == n - 1;
    if (!s->in_quote && !s->after_close)
        s->quote_line = 0; /* meaningful only while a quote is open (or may reopen: "") */
    if (n > 0)
        s->prev = p[n - 1];
}

static int get_ll(PyObject *t, int i, long long *v) {
    *v = PyLong_AsLongLong(PyTuple_GET_ITEM(t, i));
    return *v == -1 && PyErr_Occurred() ? -1 : 0;
}

static int state_from_tuple(PyObject *t, csv_state *s) {
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != STATE_ITEMS) {
        PyErr_SetString(PyExc_TypeError, "state must be a tuple of 17 items (CsvState)");
        return -1;
    }
    long long v[STATE_ITEMS - 1];
    for (int i = 0; i < STATE_ITEMS - 1; i++)
        if (get_ll(t, i, &v[i]) < 0)
            return -1;
    if (v[0] < 0 || v[0] > 255 || v[1] < 0 || v[1] > 255 || v[10] < 0 || v[10] > 255) {
        PyErr_SetString(PyExc_ValueError, "delimiter, quote and prev are byte values");
        return -1;
    }
    s->delim = (long)v[0];
    s->quote = (long)v[1];
    s->header = v[2] != 0;
    s->line = v[3];
    s->row_line = v[4];
    s->row_delims = v[5];
    s->row_content = v[6] != 0;
    s->in_quote = v[7] != 0;
    s->quote_line = v[8];
    s->after_close = v[9] != 0;
    s->prev = (long)v[10];
    s->rows = v[11];
    s->records = v[12];
    s->columns = v[13];
    s->ragged_rows = v[14];
    s->blank_lines = v[15];
    PyObject *ragged = PyTuple_GET_ITEM(t, 16);
    if (!PyTuple_Check(ragged) || PyTuple_GET_SIZE(ragged) > FIRST_RAGGED) {
        PyErr_SetString(PyExc_TypeError, "first_ragged_lines must be a tuple of at most 5 line numbers");
        return -1;
    }
    s->n_ragged = (int)PyTuple_GET_SIZE(ragged);
    for (int i = 0; i < s->n_ragged; i++)
        if (get_ll(ragged, i, &s->first_ragged[i]) < 0)
            return -1;
    return 0;
}

static PyObject *state_to_tuple(const csv_state *s) {
    PyObject *ragged = PyTuple_New(s->n_ragged);
    if (ragged == NULL)
        return NULL;
    for (int i = 0; i < s->n_ragged; i++) {
        PyObject *line = PyLong_FromLongLong(s->first_ragged[i]);
        if (line == NULL) {
            Py_DECREF(ragged);
            return NULL;
        }
        PyTuple_SET_ITEM(ragged, i, line);
    }
    return Py_BuildValue("(llNLLLNNLNlLLLLLN)", s->delim, s->quote, PyBool_FromLong(s->header), s->line,
                         s->row_line, s->row_delims, PyBool_FromLong(s->row_content),
                         PyBool_FromLong(s->in_quote), s->quote_line, PyBool_FromLong(s->after_close),
                         s->prev, s->rows, s->records, s->columns, s->ragged_rows, s->blank_lines, ragged);
}

static PyObject *csv_scan(PyObject *self, PyObject *args) {
    PyObject *state;
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "Oy*", &state, &data))
        return NULL;
    csv_state s;
    if (state_from_tuple(state, &s) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    if (data.len >= RELEASE_GIL_FROM) {
        Py_BEGIN_ALLOW_THREADS
        csv_walk(&s, (const uint8_t *)data.buf, data.len);
        Py_END_ALLOW_THREADS
    } else {
        csv_walk(&s, (const uint8_t *)data.buf, data.len);
    }
    PyBuffer_Release(&data);
    return state_to_tuple(&s);
}

/* Where a later piece of the file can be scanned without the state before it (issue 22: segments
 * scanned on several threads). The quote dynamics before the first byte are one of four: outside a
 * quoted field where a quote opens (after a delimiter or line end), outside where a quote is data
 * (mid-field), right after a closing quote (a quote reopens), or inside. The first line end that all
 * four read outside quotes ends a row whatever came before: the offset after it starts a fresh row.
 * When there is none (the piece holds no quote that would close a field open before it), the first
 * line end the three outside states read outside quotes: a fresh row unless a quoted field was open
 * (csv_join checks, and scans the piece whole then). -1: neither. */
#define SYNC_STATES 4
#define INSIDE 3

static inline void sync_quote(const uint8_t *p, Py_ssize_t i, uint8_t d, int *in, Py_ssize_t *closed) {
    static const int opens_first[SYNC_STATES] = {1, 0, 0, 0}; /* the byte before data is d or LF */
    int opens = i > 0 ? (p[i - 1] == d || p[i - 1] == NL) : -1;
    for (int k = 0; k < SYNC_STATES; k++) {
        if (in[k]) {
            in[k] = 0;
            closed[k] = i;
        } else if (closed[k] == i - 1 || (opens == -1 ? opens_first[k] : opens)) {
            in[k] = 1;
        }
    }
}

static Py_ssize_t csv_sync_walk(const uint8_t *p, Py_ssize_t n, uint8_t d, uint8_t q) {
    int in[SYNC_STATES] = {0, 0, 0, 1};
    Py_ssize_t closed[SYNC_STATES] = {-2, -2, -1, -2};
    Py_ssize_t outside = -1; /* the first row start of the three outside states */
    for (Py_ssize_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == q) { /* the scan's order of tests: a quote first, then a delimiter, then a line end */
            sync_quote(p, i, d, in, closed);
        } else if (c == NL && c != d && !(in[0] | in[1] | in[2])) {
            if (!in[INSIDE])
                return i + 1;
            if (outside == -1)
                outside = i + 1;
        }
        if (outside != -1 && in[INSIDE] && !(in[0] | in[1] | in[2])) {
            /* Only a quote can change anything now: none left, the inside state never leaves. */
            const uint8_t *next = memchr(p + i + 1, q, (size_t)(n - i - 1));
            if (next == NULL)
                return outside;
            i = next - p - 1;
        }
    }
    return outside;
}

static PyObject *csv_sync(PyObject *self, PyObject *args) {
    int d, q;
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "iiy*", &d, &q, &data))
        return NULL;
    if (d < 0 || d > 255 || q < 0 || q > 255) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "delimiter and quote are byte values");
        return NULL;
    }
    Py_ssize_t at;
    if (data.len >= RELEASE_GIL_FROM) {
        Py_BEGIN_ALLOW_THREADS
        at = csv_sync_walk((const uint8_t *)data.buf, data.len, (uint8_t)d, (uint8_t)q);
        Py_END_ALLOW_THREADS
    } else {
        at = csv_sync_walk((const uint8_t *)data.buf, data.len, (uint8_t)d, (uint8_t)q);
    }
    PyBuffer_Release(&data);
    return PyLong_FromSsize_t(at);
}

static PyMethodDef methods[] = {
    {"utf8_check", utf8_check, METH_O,
     "utf8_check(data) -> (valid_len, error_offset or -1, incomplete_tail_len), as CPython's strict decoder."},
    {"sbcs_to_utf8", sbcs_to_utf8, METH_VARARGS,
     "sbcs_to_utf8(table, data, out, out_offset, errors) -> (written, replacements, error_offset or -1)."},
    {"utf16_to_utf8", utf16_to_utf8, METH_VARARGS,
     "utf16_to_utf8(big_endian, data, out, out_offset, errors) -> (written, replacements, error_offset or -1, "
     "incomplete_tail_len)."},
    {"csv_scan", csv_scan, METH_VARARGS, "csv_scan(state, data) -> state after data (see pytwin.CsvState)."},
    {"csv_sync", csv_sync, METH_VARARGS,
     "csv_sync(delimiter, quote, data) -> offset after the first line end that ends a row whatever the "
     "state before data, or -1."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "async_ingest.transform._native",
    .m_doc = "Per-byte work of async_ingest in C (see pytwin.py for the semantics).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__native(void) {
#ifdef HAVE_SSSE3_PATH
    __builtin_cpu_init();
    have_ssse3 = __builtin_cpu_supports("ssse3");
    /* ASYNC_INGEST_NO_AVX2=1: the SSSE3 path on an AVX2 machine (its equivalence test in CI). */
    have_avx2 = __builtin_cpu_supports("avx2") && getenv("ASYNC_INGEST_NO_AVX2") == NULL;
#endif
    return PyModule_Create(&module);
}

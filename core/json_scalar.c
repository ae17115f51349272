/* The scalar tokens of the JSON reader (json_internal.h): strings, decoded to NUL-terminated
 * UTF-8 in the document's arena (escapes and surrogate pairs resolved, invalid UTF-8 rejected),
 * and numbers, checked against RFC 8259's grammar and kept as a double and, when integral and in
 * range, an int64. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "json_internal.h"

/* ---- strings --------------------------------------------------------------------------- */

static bool buf_put(struct ar__json_parser *p, const void *bytes, size_t n)
{
    if (p->buf_len + n + 1 > p->buf_cap) {
        size_t cap = p->buf_cap ? p->buf_cap : 256;
        while (cap < p->buf_len + n + 1)
            cap *= 2;
        char *grown = realloc(p->buf, cap);
        if (!grown) return ar__json_fail(p, "out of memory");
        p->buf = grown, p->buf_cap = cap;
    }
    memcpy(p->buf + p->buf_len, bytes, n);
    p->buf_len += n;
    return true;
}

/* Length of the valid UTF-8 sequence at s[0..avail), or 0 (overlong forms, surrogates and code
 * points above U+10FFFF are invalid: RFC 3629 §4). */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80)
        return 1;
    else if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else
        return 0;
    if (avail < n || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return n;
}

static size_t utf8_encode(unsigned long cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    } else if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    } else if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

static bool hex4(struct ar__json_parser *p, unsigned long *out)
{
    unsigned long v = 0;
    for (size_t i = 0; i < 4; i++) {
        if (p->pos + i >= p->len) return ar__json_fail_at(p, p->pos + i, "truncated \\u escape");
        unsigned char c = p->s[p->pos + i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return ar__json_fail_at(p, p->pos + i, "invalid hex digit in \\u escape");
        v = v * 16 + (unsigned long)d;
    }
    p->pos += 4;
    *out = v;
    return true;
}

static bool parse_escape(struct ar__json_parser *p)
{
    size_t start = p->pos - 1; /* the backslash */
    if (p->pos >= p->len) return ar__json_fail(p, "unterminated string");
    char c = (char)p->s[p->pos++];
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *hit = c ? strchr(from, c) : NULL;
    if (hit) return buf_put(p, &to[hit - from], 1);
    if (c != 'u') return ar__json_fail_at(p, start, "invalid escape sequence");
    unsigned long cp;
    if (!hex4(p, &cp)) return false;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return ar__json_fail_at(p, start, "unpaired low surrogate in \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        unsigned long lo;
        if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
            return ar__json_fail_at(p, start, "unpaired high surrogate in \\u escape");
        p->pos += 2;
        if (!hex4(p, &lo)) return false;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return ar__json_fail_at(p, start, "unpaired high surrogate in \\u escape");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    unsigned char out[4];
    return buf_put(p, out, utf8_encode(cp, out));
}

/* Decodes the string at p->pos (the opening quote) into the arena. */
bool ar__json_parse_string(struct ar__json_parser *p, const char **out, size_t *out_len)
{
    size_t open = p->pos++;
    p->buf_len = 0;
    for (;;) {
        if (p->pos >= p->len) return ar__json_fail_at(p, open, "unterminated string");
        unsigned char c = p->s[p->pos];
        if (c == '"') break;
        if (c == '\\') {
            p->pos++;
            if (!parse_escape(p)) return false;
            continue;
        }
        if (c < 0x20) return ar__json_fail(p, "control character in string (must be escaped)");
        /* Copy a run of plain bytes at once, validating UTF-8 as we go. */
        size_t run = p->pos;
        while (run < p->len && p->s[run] != '"' && p->s[run] != '\\' && p->s[run] >= 0x20) {
            size_t n = utf8_seq(p->s + run, p->len - run);
            if (n == 0) return ar__json_fail_at(p, run, "invalid UTF-8 in string");
            run += n;
        }
        if (!buf_put(p, p->s + p->pos, run - p->pos)) return false;
        p->pos = run;
    }
    p->pos++; /* closing quote */
    char *copy = ar__json_arena_alloc(p->doc, p->buf_len + 1);
    if (!copy) return ar__json_fail(p, "out of memory");
    if (p->buf_len) memcpy(copy, p->buf, p->buf_len);
    copy[p->buf_len] = '\0';
    *out = copy;
    *out_len = p->buf_len;
    return true;
}

/* ---- numbers --------------------------------------------------------------------------- */

static bool digits(struct ar__json_parser *p)
{
    size_t start = p->pos;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
        p->pos++;
    return p->pos > start;
}

/* number = [ "-" ] ( "0" / [1-9] *DIGIT ) [ "." 1*DIGIT ] [ ( "e" / "E" ) [ "+" / "-" ] 1*DIGIT ]
 */
bool ar__json_parse_number(struct ar__json_parser *p, struct ar__json_node *n)
{
    size_t start = p->pos;
    bool neg = p->s[p->pos] == '-', integral = true;
    if (neg) p->pos++;
    if (p->pos < p->len && p->s[p->pos] == '0') {
        p->pos++;
        if (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            return ar__json_fail(p, "leading zero in number");
    } else if (!digits(p))
        return ar__json_fail(p, "invalid number");
    if (p->pos < p->len && p->s[p->pos] == '.') {
        p->pos++, integral = false;
        if (!digits(p)) return ar__json_fail(p, "expected digits after the decimal point");
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        p->pos++, integral = false;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        if (!digits(p)) return ar__json_fail(p, "expected digits in the exponent");
    }
    n->type = AR__JSON_NUMBER;
    if (integral) {
        uint64_t mag = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        bool fits = true;
        for (size_t i = start + neg; i < p->pos && fits; i++) {
            uint64_t d = p->s[i] - '0';
            fits = mag <= (limit - d) / 10;
            mag = mag * 10 + d;
        }
        if (fits) {
            n->is_int = true;
            n->i64 = neg ? (int64_t)(0 - mag) : (int64_t)mag;
        }
        /* Integers below 2^53 are exact doubles: skip strtod (most numbers of a tokenizer). */
        if (fits && mag <= (1ULL << 53)) {
            n->num = neg ? -(double)mag : (double)mag;
            return true;
        }
    }
    /* strtod needs a NUL-terminated copy: the input may be an mmap'ed file with no NUL. */
    p->buf_len = 0;
    if (!buf_put(p, p->s + start, p->pos - start)) return false;
    p->buf[p->buf_len] = '\0';
    n->num = ar__json_strtod(p->buf, NULL);
    if (n->num == HUGE_VAL || n->num == -HUGE_VAL)
        return ar__json_fail_at(p, start, "number out of range");
    return true;
}

/* UTF-8 and character classes for the tokenizers; the tables are in unicode_tables.c and
 * unicode_strip_table.c. */
#include "unicode.h"

int ar__utf8_decode(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    if (len == 0) return 0;
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    int n;
    uint32_t c, min;
    if ((u[0] & 0xE0) == 0xC0) {
        n = 2, c = u[0] & 0x1F, min = 0x80;
    } else if ((u[0] & 0xF0) == 0xE0) {
        n = 3, c = u[0] & 0x0F, min = 0x800;
    } else if ((u[0] & 0xF8) == 0xF0) {
        n = 4, c = u[0] & 0x07, min = 0x10000;
    } else {
        return 0; /* a continuation byte or 0xF8..0xFF */
    }
    if (len < (size_t)n) return 0;
    for (int i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80) return 0;
        c = c << 6 | (u[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return n;
}

int ar__utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t ar__utf8_invalid_at(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        int n = ar__utf8_decode(s + i, len - i, &cp);
        if (n == 0) return i;
        i += (size_t)n;
    }
    return len;
}

unsigned ar__uc_flags(uint32_t cp)
{
    if (cp < 128) return ar__uc_ascii_flags[cp];
    /* The last run that starts at or before cp. */
    size_t lo = 0, hi = ar__uc_class_starts_count;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if ((ar__uc_class_starts[mid] >> 8) <= cp)
            lo = mid;
        else
            hi = mid;
    }
    return ar__uc_class_starts[lo] & 0xFF;
}

static const struct ar__uc_strip *find_strip(const struct ar__uc_strip *table, size_t count,
                                             uint32_t cp)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (table[mid].cp < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < count && table[lo].cp == cp ? &table[lo] : NULL;
}

static int copy_strip(const struct ar__uc_strip *e, uint32_t *out)
{
    for (int i = 0; i < e->count; i++)
        out[i] = e->kept[i];
    return e->count;
}

bool ar__uc_is_cjk(uint32_t cp)
{
    /* The CJK Unified Ideographs blocks and extensions A-E, and the compatibility ideographs
     * (BERT's _is_chinese_char; the list was checked against `tokenizers` code point by code
     * point). Hiragana, Katakana and Hangul are not in it. */
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B81F) ||
           (cp >= 0x2B920 && cp <= 0x2CEAF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
           (cp >= 0x2F800 && cp <= 0x2FA1F);
}

int ar__uc_lower(uint32_t cp, uint32_t out[3])
{
    if (cp < 0x80) {
        out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
        return 1;
    }
    const struct ar__uc_strip *multi = find_strip(ar__uc_lower_multi, ar__uc_lower_multi_count, cp);
    if (multi) return copy_strip(multi, out);
    /* The last run that starts at or before cp. */
    size_t lo = 0, hi = ar__uc_lower_runs_count;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (ar__uc_lower_runs[mid].first <= cp)
            lo = mid;
        else
            hi = mid;
    }
    const struct ar__uc_lower_run *r = &ar__uc_lower_runs[lo];
    out[0] = cp;
    if (cp >= r->first) {
        uint32_t k = cp - r->first;
        if (k % r->stride == 0 && k / r->stride < r->count)
            out[0] = (uint32_t)((int32_t)cp + r->delta);
    }
    return 1;
}

int ar__uc_strip_accents(uint32_t cp, uint32_t out[3])
{
    if (cp < 0xC0) {
        out[0] = cp;
        return 1;
    }
    if (cp >= 0xAC00 && cp <= 0xD7A3) { /* Hangul syllables: Unicode §3.12 */
        uint32_t s = cp - 0xAC00;
        out[0] = 0x1100 + s / 588;
        out[1] = 0x1161 + (s % 588) / 28;
        if (s % 28 == 0) return 2;
        out[2] = 0x11A7 + s % 28;
        return 3;
    }
    const struct ar__uc_strip *e = find_strip(ar__uc_strip, ar__uc_strip_count, cp);
    if (e) return copy_strip(e, out);
    if (ar__uc_flags(cp) & AR__UC_MARK) return 0;
    out[0] = cp;
    return 1;
}

/* Pre-tokenizers: cut normalized text into the pieces the model encodes one by one.
 *
 * The GPT-2 and Llama-3 split patterns are regular expressions in tokenizer.json; rather than
 * carry a regex engine, each is a hand-written matcher that returns, at a position, the length
 * the regex (leftmost alternative first, greedy, with backtracking) would match there. Both
 * patterns match every character, so their matches cover the text and "Isolated" splitting is
 * just cutting at match boundaries.
 */
#include <stdlib.h>

#include "tokenizer_internal.h"

enum { CH_L = AR__UC_L, CH_N = AR__UC_N, CH_S = AR__UC_S, CH_LNS = CH_L | CH_N | CH_S };

struct chars {
    uint32_t *cp;
    uint8_t *cls;
    size_t *off; /* (n + 1) byte offsets */
    size_t n, cap;
};

static bool chars_decode(struct chars *c, const char *s, size_t len)
{
    if (len + 1 > c->cap) {
        size_t cap = len + 1;
        uint32_t *cp = realloc(c->cp, cap * sizeof *cp);
        if (cp) c->cp = cp;
        uint8_t *cls = realloc(c->cls, cap);
        if (cls) c->cls = cls;
        size_t *off = realloc(c->off, cap * sizeof *off);
        if (off) c->off = off;
        if (!cp || !cls || !off) return false;
        c->cap = cap;
    }
    c->n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = ar__utf8_decode(s + i, len - i, &cp);
        if (k == 0) return false;
        c->cp[c->n] = cp;
        c->cls[c->n] = (uint8_t)ar__uc_flags(cp);
        c->off[c->n++] = i;
        i += (size_t)k;
    }
    c->off[c->n] = len;
    return true;
}

static void chars_free(struct chars *c)
{
    free(c->cp);
    free(c->cls);
    free(c->off);
}

static uint32_t lower_ascii(uint32_t cp)
{
    return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
}

/* 's 't 're 've 'm 'll 'd at i: the length, or 0. */
static size_t contraction(const struct chars *c, size_t i, bool fold)
{
    if (c->cp[i] != '\'' || i + 1 >= c->n) return 0;
    uint32_t a = fold ? lower_ascii(c->cp[i + 1]) : c->cp[i + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (i + 2 >= c->n) return 0;
    uint32_t b = fold ? lower_ascii(c->cp[i + 2]) : c->cp[i + 2];
    return ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) ? 3 : 0;
}

static size_t run(const struct chars *c, size_t j, uint8_t want)
{
    while (j < c->n && (c->cls[j] & want))
        j++;
    return j;
}

static size_t run_other(const struct chars *c, size_t j) /* [^\s\p{L}\p{N}]+ */
{
    while (j < c->n && !(c->cls[j] & CH_LNS))
        j++;
    return j;
}

/* \s+(?!\S) | \s+ at i (a space): all of the run at the end of the text, else the run less its
 * last character (which the next match takes), else the single character. */
static size_t space_tail(const struct chars *c, size_t i)
{
    size_t k = run(c, i, CH_S);
    if (k == c->n || k - i == 1) return k - i;
    return k - 1 - i;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t gpt2_match(const struct chars *c, size_t i)
{
    size_t k = contraction(c, i, false);
    if (k) return k;
    size_t j = i + (c->cp[i] == ' ' && i + 1 < c->n);
    if (c->cls[j] & CH_L) return run(c, j, CH_L) - i;
    if (c->cls[j] & CH_N) return run(c, j, CH_N) - i;
    if (!(c->cls[j] & CH_LNS)) return run_other(c, j) - i;
    return space_tail(c, i);
}

static bool is_crlf(uint32_t cp)
{
    return cp == '\r' || cp == '\n';
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 * \s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t llama3_match(const struct chars *c, size_t i)
{
    size_t k = contraction(c, i, true);
    if (k) return k;
    if (c->cls[i] & CH_L) return run(c, i, CH_L) - i;
    if (!(c->cls[i] & CH_N) && !is_crlf(c->cp[i]) && i + 1 < c->n && (c->cls[i + 1] & CH_L))
        return run(c, i + 1, CH_L) - i;
    if (c->cls[i] & CH_N) {
        size_t j = i;
        while (j < c->n && j - i < 3 && (c->cls[j] & CH_N))
            j++;
        return j - i;
    }
    size_t j = i + (c->cp[i] == ' ' && i + 1 < c->n);
    if (!(c->cls[j] & CH_LNS)) {
        j = run_other(c, j);
        while (j < c->n && is_crlf(c->cp[j]))
            j++;
        return j - i;
    }
    /* c->cp[i] is a space here. \s*[\r\n]+ ends after the last CR/LF of the space run. */
    size_t end = run(c, i, CH_S), last = end;
    for (size_t m = i; m < end; m++)
        if (is_crlf(c->cp[m])) last = m;
    if (last < end) return last + 1 - i;
    return space_tail(c, i);
}

static bool split_pattern(struct chars *c, enum ar__pretok_kind kind, const char *s, size_t n,
                          struct ar__tok_pieces *out)
{
    if (!chars_decode(c, s, n)) return false;
    for (size_t i = 0; i < c->n;) {
        size_t k = kind == AR__PRETOK_GPT2 ? gpt2_match(c, i) : llama3_match(c, i);
        if (!ar__tok_pieces_add(out, s + c->off[i], c->off[i + k] - c->off[i])) return false;
        i += k;
    }
    return true;
}

/* BertPreTokenizer (punct = true) and WhitespaceSplit (punct = false). */
static bool split_words(struct chars *c, bool punct, const char *s, size_t n,
                        struct ar__tok_pieces *out)
{
    if (!chars_decode(c, s, n)) return false;
    size_t start = 0;
    for (size_t i = 0; i < c->n; i++) {
        bool space = c->cls[i] & CH_S, cut = punct && (c->cls[i] & AR__UC_P);
        if (!space && !cut) continue;
        if (!ar__tok_pieces_add(out, s + c->off[start], c->off[i] - c->off[start]) ||
            (cut && !ar__tok_pieces_add(out, s + c->off[i], c->off[i + 1] - c->off[i])))
            return false;
        start = i + 1;
    }
    return ar__tok_pieces_add(out, s + c->off[start], c->off[c->n] - c->off[start]);
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes
 * (0-32, 127-160, 173) map in order to U+0100.. so every byte is a visible character. */
static uint32_t byte_char(unsigned b)
{
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) return b;
    if (b <= 32) return 256 + b;
    if (b <= 160) return 256 + 33 + (b - 127);
    return 256 + 33 + 34; /* 173 */
}

static bool map_bytes(const char *s, size_t n, struct ar__tok_pieces *out)
{
    for (size_t i = 0; i < n; i++)
        if (!ar__tok_buf_put_cp(&out->text, byte_char((unsigned char)s[i]))) return false;
    return ar__tok_pieces_end(out);
}

static bool byte_level(struct chars *c, const struct ar__pretok *step, const char *s, size_t n,
                       struct ar__tok_pieces *out)
{
    struct ar__tok_buf prefixed = {0};
    if (step->add_prefix_space && n > 0 && s[0] != ' ') {
        if (!ar__tok_buf_put(&prefixed, " ", 1) || !ar__tok_buf_put(&prefixed, s, n)) {
            free(prefixed.data);
            return false;
        }
        s = prefixed.data;
        n = prefixed.len;
    }
    struct ar__tok_pieces parts = {0};
    bool ok = step->use_regex ? split_pattern(c, AR__PRETOK_GPT2, s, n, &parts)
                              : ar__tok_pieces_add(&parts, s, n);
    for (size_t i = 0; ok && i < parts.count; i++) {
        size_t len;
        const char *p = ar__tok_piece(&parts, i, &len);
        ok = map_bytes(p, len, out);
    }
    ar__tok_pieces_free(&parts);
    free(prefixed.data);
    return ok;
}

bool ar__pretok_apply(const struct ar__pretok *step, const struct ar__tok_pieces *in,
                      struct ar__tok_pieces *out)
{
    struct chars c = {0};
    bool ok = true;
    for (size_t i = 0; ok && i < in->count; i++) {
        size_t n;
        const char *s = ar__tok_piece(in, i, &n);
        switch (step->kind) {
        case AR__PRETOK_BERT:
        case AR__PRETOK_WHITESPACE:
            ok = split_words(&c, step->kind == AR__PRETOK_BERT, s, n, out);
            break;
        case AR__PRETOK_GPT2:
        case AR__PRETOK_LLAMA3:
            ok = split_pattern(&c, step->kind, s, n, out);
            break;
        case AR__PRETOK_BYTELEVEL:
            ok = byte_level(&c, step, s, n, out);
            break;
        }
    }
    chars_free(&c);
    return ok;
}

/* Text plumbing for the tokenizers: growable buffers, the vocabulary hash table, the
 * normalizers and the added-token splitter. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

/* ---- buffers ---------------------------------------------------------------------------- */

static bool grow(void **data, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return true;
    size_t cap2 = *cap ? *cap : 64;
    while (cap2 < need)
        cap2 *= 2;
    void *p = realloc(*data, cap2 * elem);
    if (!p) return false;
    *data = p;
    *cap = cap2;
    return true;
}

bool ar__tok_buf_put(struct ar__tok_buf *b, const char *s, size_t n)
{
    if (!grow((void **)&b->data, &b->cap, b->len + n + 1, 1)) return false;
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

bool ar__tok_buf_put_cp(struct ar__tok_buf *b, uint32_t cp)
{
    char u[4];
    return ar__tok_buf_put(b, u, (size_t)ar__utf8_encode(cp, u));
}

bool ar__tok_ids_push(struct ar__tok_ids *v, int32_t id)
{
    if (!grow((void **)&v->data, &v->cap, v->len + 1, sizeof *v->data)) return false;
    v->data[v->len++] = id;
    return true;
}

bool ar__tok_pieces_add(struct ar__tok_pieces *p, const char *s, size_t n)
{
    if (n == 0) return true;
    if (!grow((void **)&p->ends, &p->cap, p->count + 1, sizeof *p->ends) ||
        !ar__tok_buf_put(&p->text, s, n))
        return false;
    p->ends[p->count++] = p->text.len;
    return true;
}

bool ar__tok_pieces_end(struct ar__tok_pieces *p)
{
    size_t last = p->count ? p->ends[p->count - 1] : 0;
    if (p->text.len == last) return true;
    if (!grow((void **)&p->ends, &p->cap, p->count + 1, sizeof *p->ends)) return false;
    p->ends[p->count++] = p->text.len;
    return true;
}

void ar__tok_pieces_clear(struct ar__tok_pieces *p)
{
    p->count = 0;
    p->text.len = 0;
}

void ar__tok_pieces_free(struct ar__tok_pieces *p)
{
    free(p->text.data);
    free(p->ends);
    memset(p, 0, sizeof *p);
}

/* ---- vocabulary ------------------------------------------------------------------------- */

uint64_t ar__tok_hash(const void *data, size_t n)
{
    /* FNV-1a, 64 bit: short keys, no adversary worth a keyed hash. */
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

bool ar__vocab_init(struct ar__vocab *v, int32_t count)
{
    memset(v, 0, sizeof *v);
    size_t slots = 16;
    while (slots < 2 * (size_t)count) /* load factor <= 1/2 */
        slots *= 2;
    v->text = calloc((size_t)count ? (size_t)count : 1, sizeof *v->text);
    v->lens = calloc((size_t)count ? (size_t)count : 1, sizeof *v->lens);
    v->slots = calloc(slots, sizeof *v->slots);
    v->count = count;
    v->mask = slots - 1;
    return v->text && v->lens && v->slots;
}

int32_t ar__vocab_find(const struct ar__vocab *v, const char *s, size_t n)
{
    for (size_t i = ar__tok_hash(s, n) & v->mask;; i = (i + 1) & v->mask) {
        int32_t id = v->slots[i] - 1;
        if (id < 0) return -1;
        if (v->lens[id] == n && memcmp(v->text[id], s, n) == 0) return id;
    }
}

bool ar__vocab_set(struct ar__vocab *v, const char *s, size_t n, int32_t id, bool *dup)
{
    *dup = v->text[id] != NULL || ar__vocab_find(v, s, n) >= 0;
    if (*dup) return true;
    char *copy = malloc(n + 1);
    if (!copy) return false;
    memcpy(copy, s, n);
    copy[n] = '\0';
    v->text[id] = copy;
    v->lens[id] = n;
    size_t i = ar__tok_hash(s, n) & v->mask;
    while (v->slots[i])
        i = (i + 1) & v->mask;
    v->slots[i] = id + 1;
    return true;
}

void ar__vocab_free(struct ar__vocab *v)
{
    for (int32_t i = 0; v->text && i < v->count; i++)
        free(v->text[i]);
    free(v->text);
    free(v->lens);
    free(v->slots);
    memset(v, 0, sizeof *v);
}

/* ---- normalizers ------------------------------------------------------------------------ */

/* BertNormalizer, in the order `tokenizers` applies it: clean_text, handle_chinese_chars,
 * strip_accents, lowercase. Every step maps one code point to a few, so they compose per code
 * point. */
static bool bert_cp(const struct ar__norm *nm, uint32_t cp, struct ar__tok_buf *out)
{
    if (nm->clean_text) {
        if (cp == 0 || cp == 0xFFFD || (ar__uc_flags(cp) & AR__UC_CTRL)) return true;
        if (ar__uc_is_space(cp)) cp = ' ';
    }
    uint32_t a[3] = {cp}, b[3];
    int na = 1;
    bool cjk = nm->chinese && ar__uc_is_cjk(cp);
    if (cjk && !ar__tok_buf_put(out, " ", 1)) return false;
    if (nm->strip_accents) na = ar__uc_strip_accents(cp, a);
    for (int i = 0; i < na; i++) {
        int nb = 1;
        b[0] = a[i];
        if (nm->lowercase) nb = ar__uc_lower(a[i], b);
        for (int j = 0; j < nb; j++)
            if (!ar__tok_buf_put_cp(out, b[j])) return false;
    }
    return !cjk || ar__tok_buf_put(out, " ", 1);
}

static bool normalize_step(const struct ar__norm *nm, const char *s, size_t n,
                           struct ar__tok_buf *out)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp, low[3];
        int len = ar__utf8_decode(s + i, n - i, &cp);
        if (len == 0) /* the input was validated; only a bug gets here */
            return false;
        i += (size_t)len;
        bool ok = true;
        switch (nm->kind) {
        case AR__NORM_BERT:
            ok = bert_cp(nm, cp, out);
            break;
        case AR__NORM_LOWERCASE:
            for (int j = 0, nl = ar__uc_lower(cp, low); j < nl && ok; j++)
                ok = ar__tok_buf_put_cp(out, low[j]);
            break;
        case AR__NORM_STRIP_ACCENTS: /* drops marks only; decomposing is NFD's job */
            if (!(ar__uc_flags(cp) & AR__UC_MARK)) ok = ar__tok_buf_put_cp(out, cp);
            break;
        }
        if (!ok) return false;
    }
    return true;
}

bool ar__tok_normalize(const struct ar_tokenizer *tok, const char *s, size_t n,
                       struct ar__tok_buf *out)
{
    if (tok->n_norms == 0) return ar__tok_buf_put(out, s, n);
    struct ar__tok_buf tmp[2] = {{0}};
    const char *src = s;
    size_t src_n = n;
    bool ok = true;
    for (int k = 0; k < tok->n_norms && ok; k++) {
        struct ar__tok_buf *dst = k == tok->n_norms - 1 ? out : &tmp[k % 2];
        size_t start = dst->len;
        if (dst != out) dst->len = 0;
        ok = ar__tok_buf_put(dst, "", 0) && normalize_step(&tok->norms[k], src, src_n, dst);
        src = dst->data + (dst == out ? start : 0);
        src_n = dst->len - (dst == out ? start : 0);
    }
    free(tmp[0].data);
    free(tmp[1].data);
    return ok;
}

/* ---- added tokens ----------------------------------------------------------------------- */

static bool is_word_cp(uint32_t cp)
{
    return (ar__uc_flags(cp) & (AR__UC_L | AR__UC_N)) || cp == '_';
}

/* The code point that ends at s[end) (end > 0), and where it starts. */
static uint32_t cp_before(const char *s, size_t end, size_t *start)
{
    size_t i = end - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
        i--;
    uint32_t cp = 0;
    ar__utf8_decode(s + i, end - i, &cp);
    *start = i;
    return cp;
}

/* The longest added token matching at s[pos..n), or NULL. */
static const struct ar__added *match_at(const struct ar_tokenizer *tok, bool normalized,
                                        const char *s, size_t n, size_t pos)
{
    const struct ar__added *best = NULL;
    for (size_t k = 0; k < tok->n_added; k++) {
        const struct ar__added *a = &tok->added[k];
        if (a->normalized != normalized || a->len == 0 || a->len > n - pos ||
            (best && a->len <= best->len) || memcmp(s + pos, a->text, a->len) != 0)
            continue;
        if (a->single_word) {
            size_t at;
            uint32_t cp;
            if (pos > 0 && is_word_cp(cp_before(s, pos, &at))) continue;
            if (pos + a->len < n && ar__utf8_decode(s + pos + a->len, n - pos - a->len, &cp) &&
                is_word_cp(cp))
                continue;
        }
        best = a;
    }
    return best;
}

bool ar__tok_split_added(const struct ar_tokenizer *tok, bool normalized, const char *s, size_t n,
                         const struct ar__tok_sink *sink)
{
    size_t text_start = 0, pos = 0;
    const bool *first = tok->added_first[normalized];
    while (pos < n) {
        const struct ar__added *a =
            first[(unsigned char)s[pos]] ? match_at(tok, normalized, s, n, pos) : NULL;
        if (!a) {
            pos++;
            continue;
        }
        size_t start = pos, end = pos + a->len, at;
        while (a->lstrip && start > text_start && ar__uc_is_space(cp_before(s, start, &at)))
            start = at;
        uint32_t cp;
        int len;
        while (a->rstrip && end < n && (len = ar__utf8_decode(s + end, n - end, &cp)) > 0 &&
               ar__uc_is_space(cp))
            end += (size_t)len;
        if ((start > text_start && !sink->text(sink->user, s + text_start, start - text_start)) ||
            !sink->token(sink->user, a->id))
            return false;
        pos = text_start = end;
    }
    return text_start >= n || sink->text(sink->user, s + text_start, n - text_start);
}

/* The tokenizer's public API: the encode pipeline, padding and lookups. Loading is in
 * tokenizer_load.c; the pipeline's stages are in the other tokenizer_*.c files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

void ar_tokenizer_free(struct ar_tokenizer *tok)
{
    if (!tok) return;
    ar__vocab_free(&tok->vocab);
    free(tok->prefix);
    free(tok->merges);
    for (size_t i = 0; tok->added && i < tok->n_added; i++)
        free(tok->added[i].text);
    free(tok->added);
    ar__tmpl_free(&tok->single);
    ar__tmpl_free(&tok->pair);
    free(tok);
}

/* ---- one sequence: added tokens, normalize, pre-tokenize, model --------------------------- */

struct encoder {
    const struct ar_tokenizer *tok;
    struct ar__tok_ids *out;
    struct ar__tok_buf normalized, scratch;
    struct ar__tok_pieces pieces[2];
    struct ar__tok_ids symbols;
};

static bool emit_token(void *user, int32_t id)
{
    struct encoder *e = user;
    return ar__tok_ids_push(e->out, id);
}

/* Normalized text between added tokens: pre-tokenize, then run the model on every piece. */
static bool emit_normalized(void *user, const char *s, size_t n)
{
    struct encoder *e = user;
    const struct ar_tokenizer *tok = e->tok;
    int cur = 0;
    ar__tok_pieces_clear(&e->pieces[0]);
    if (!ar__tok_pieces_add(&e->pieces[0], s, n)) return false;
    for (int k = 0; k < tok->n_pretoks; k++, cur ^= 1) {
        ar__tok_pieces_clear(&e->pieces[cur ^ 1]);
        if (!ar__pretok_apply(&tok->pretoks[k], &e->pieces[cur], &e->pieces[cur ^ 1])) return false;
    }
    const struct ar__tok_pieces *p = &e->pieces[cur];
    for (size_t i = 0; i < p->count; i++) {
        size_t len;
        const char *w = ar__tok_piece(p, i, &len);
        bool ok = tok->model == AR__MODEL_WORDPIECE
                      ? ar__wordpiece_word(tok, w, len, &e->scratch, e->out)
                      : ar__bpe_word(tok, w, len, &e->symbols, e->out);
        if (!ok) return false;
    }
    return true;
}

/* Raw text between non-normalized added tokens: normalize, then split at normalized ones. */
static bool emit_raw(void *user, const char *s, size_t n)
{
    struct encoder *e = user;
    e->normalized.len = 0;
    if (!ar__tok_buf_put(&e->normalized, "", 0) || !ar__tok_normalize(e->tok, s, n, &e->normalized))
        return false;
    struct ar__tok_sink sink = {emit_normalized, emit_token, e};
    return ar__tok_split_added(e->tok, true, e->normalized.data, e->normalized.len, &sink);
}

static enum ar_status encode_one(const struct ar_tokenizer *tok, const char *what, const char *s,
                                 size_t n, struct ar__tok_ids *out, char *err, size_t err_size)
{
    size_t bad = ar__utf8_invalid_at(s, n);
    if (bad < n) {
        snprintf(err, err_size, "%s: invalid UTF-8 at byte %zu (0x%02X)", what, bad,
                 (unsigned)(unsigned char)s[bad]);
        return AR_STATUS_BAD_FORMAT;
    }
    struct encoder e = {.tok = tok, .out = out};
    struct ar__tok_sink sink = {emit_raw, emit_token, &e};
    bool ok = ar__tok_split_added(tok, false, s, n, &sink);
    free(e.normalized.data);
    free(e.scratch.data);
    ar__tok_pieces_free(&e.pieces[0]);
    ar__tok_pieces_free(&e.pieces[1]);
    free(e.symbols.data);
    if (!ok) {
        snprintf(err, err_size, "%s: out of memory while encoding", what);
        return AR_STATUS_OUT_OF_MEMORY;
    }
    return AR_STATUS_OK;
}

enum ar_status ar_tokenizer_encode(const struct ar_tokenizer *tok, const char *text, size_t len,
                                   const char *text_pair, size_t pair_len, int max_len,
                                   int32_t *ids, int32_t *type_ids, int *n_out, char *err,
                                   size_t err_size)
{
    *n_out = 0;
    const struct ar__tmpl *t = text_pair ? &tok->pair : &tok->single;
    if (!ids || (!text && len) || max_len < t->n_special || max_len <= 0) {
        snprintf(err, err_size,
                 "ar_tokenizer_encode: max_len %d cannot hold the %d special tokens (or a "
                 "buffer is NULL)",
                 max_len, t->n_special);
        return AR_STATUS_INVALID_ARGUMENT;
    }
    struct ar__tok_ids a = {0}, b = {0};
    enum ar_status st = encode_one(tok, "text", text ? text : "", len, &a, err, err_size);
    if (!st && text_pair) st = encode_one(tok, "text_pair", text_pair, pair_len, &b, err, err_size);
    if (!st) {
        ar__tok_truncate(t, &a, text_pair ? &b : NULL, max_len);
        *n_out = ar__tok_apply_template(t, &a, text_pair ? &b : NULL, ids, type_ids);
    }
    free(a.data);
    free(b.data);
    return st;
}

enum ar_status ar_tokenizer_encode_plain(const struct ar_tokenizer *tok, const char *text,
                                         size_t len, int max_len, int32_t *ids, int *n_out,
                                         char *err, size_t err_size)
{
    *n_out = 0;
    if (!ids || (!text && len) || max_len < 0) {
        snprintf(err, err_size, "ar_tokenizer_encode_plain: max_len %d (or a buffer is NULL)",
                 max_len);
        return AR_STATUS_INVALID_ARGUMENT;
    }
    struct ar__tok_ids a = {0};
    enum ar_status st = encode_one(tok, "text", text ? text : "", len, &a, err, err_size);
    for (size_t i = 0; !st && i < a.len && (int)i < max_len; i++)
        ids[(*n_out)++] = a.data[i];
    free(a.data);
    return st;
}

/* ---- padding and lookups ---------------------------------------------------------------- */

void ar_tokenizer_pad(const struct ar_tokenizer *tok, int32_t *ids, int32_t *type_ids,
                      int32_t *mask, int n, int max_len)
{
    int32_t pad = tok->pad_id >= 0 ? tok->pad_id : 0;
    for (int i = 0; i < max_len; i++) {
        if (i >= n) {
            ids[i] = pad;
            if (type_ids) type_ids[i] = 0;
        }
        if (mask) mask[i] = i < n;
    }
}

int32_t ar_tokenizer_token_id(const struct ar_tokenizer *tok, const char *token)
{
    size_t n = strlen(token);
    for (size_t i = 0; i < tok->n_added; i++)
        if (!tok->added[i].normalized && tok->added[i].len == n &&
            memcmp(tok->added[i].text, token, n) == 0)
            return tok->added[i].id;
    return ar__vocab_find(&tok->vocab, token, n);
}

const char *ar_tokenizer_token(const struct ar_tokenizer *tok, int32_t id)
{
    if (id >= 0 && id < tok->vocab.count && tok->vocab.text[id]) return tok->vocab.text[id];
    for (size_t i = 0; i < tok->n_added; i++)
        if (tok->added[i].id == id) return tok->added[i].text;
    return NULL;
}

int32_t ar_tokenizer_vocab_size(const struct ar_tokenizer *tok)
{
    return tok->vocab_size;
}

int32_t ar_tokenizer_pad_id(const struct ar_tokenizer *tok)
{
    return tok->pad_id;
}

int ar_tokenizer_max_length(const struct ar_tokenizer *tok)
{
    return tok->max_length;
}

/* Prompt/completion data encoded for causal-LM fine-tuning (dataset.h, ar_dataset_encode_lm):
 * prompt + completion + eos, the loss on the completion and the eos only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adarank/dataset.h"
#include "adarank/tokenizer.h"

enum ar_status ar_dataset_tokenizer_encode_plain(void *tokenizer, const char *text,
                                                 const char *text_b, int max_len, int32_t *ids,
                                                 int32_t *type_ids, int *len, char *err,
                                                 size_t err_size)
{
    (void)text_b;
    enum ar_status st =
        ar_tokenizer_encode_plain(tokenizer, text, strlen(text), max_len, ids, len, err, err_size);
    for (int i = 0; st == AR_STATUS_OK && type_ids && i < *len; i++)
        type_ids[i] = 0;
    return st;
}

/* Every token of a text costs at least one byte (byte-level BPE, WordPiece's [UNK] per word,
 * added tokens), so strlen + the special tokens bounds an encoding; 64 covers any template. */
static int bound(const char *text)
{
    size_t n = strlen(text) + 64;
    return n > (1u << 30) ? 1 << 30 : (int)n;
}

struct scratch {
    int32_t *p, *c, *types;
    int cap;
};

static bool reserve(struct scratch *s, int n)
{
    if (n <= s->cap) return true;
    int32_t **bufs[] = {&s->p, &s->c, &s->types};
    for (int i = 0; i < 3; i++) {
        int32_t *q = realloc(*bufs[i], (size_t)n * sizeof *q);
        if (!q)
            return false; /* the buffers realloc'd so far are larger: still valid, cap unchanged */
        *bufs[i] = q;
    }
    s->cap = n;
    return true;
}

/* One row into ids/labels (room for max_len); returns the length, or −1 with `why` and *st
 * set (the encoder's status: BAD_FORMAT for invalid UTF-8, ...). */
static int encode_row(const struct ar_lm_encoder *enc, const struct ar_example *e, int max_len,
                      struct scratch *s, int32_t *ids, int32_t *labels, bool *cut,
                      enum ar_status *st, char *why, size_t why_size)
{
    int np = 0, nc = 0, cap_p = bound(e->text), cap_c = bound(e->text_b ? e->text_b : "");
    *st = AR_STATUS_OUT_OF_MEMORY;
    if (!reserve(s, cap_p > cap_c ? cap_p : cap_c)) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    if ((*st = enc->prompt(enc->user, e->text, NULL, cap_p, s->p, s->types, &np, why, why_size)) ||
        (*st = enc->completion(enc->user, e->text_b ? e->text_b : "", NULL, cap_c, s->c, s->types,
                               &nc, why, why_size)))
        return -1;
    *st = AR_STATUS_INVALID_ARGUMENT;
    s->c[nc++] = enc->eos_id; /* reserve() left room: cap_c > the completion's tokens */
    /* keep the whole completion + eos when the prompt can keep at least one token */
    int keep_c = nc, min_p = np > 0 ? 1 : 0;
    if (keep_c > max_len - min_p) keep_c = max_len - min_p;
    int keep_p = np < max_len - keep_c ? np : max_len - keep_c;
    *cut = keep_p < np || keep_c < nc;
    int n = 0;
    bool bos = keep_p >= 2 && keep_p < np && s->p[0] == enc->bos_id;
    if (bos) ids[n++] = s->p[0];
    for (int i = np - (keep_p - n); i < np; i++) /* the prompt's last tokens */
        ids[n++] = s->p[i];
    for (int i = 0; i < keep_c; i++)
        ids[n++] = s->c[i];
    for (int t = 0; t < n; t++) /* the target of position t is token t + 1, if not the prompt's */
        labels[t] = t + 1 < n && t + 1 >= keep_p ? ids[t + 1] : AR_IGNORE_LABEL;
    if (n < 2) {
        snprintf(why, why_size, "nothing to learn: an empty prompt and completion");
        return -1;
    }
    return n;
}

enum ar_status ar_dataset_encode_lm(const struct ar_dataset *ds, const struct ar_lm_encoder *enc,
                                    int max_len, struct ar_encoded **out, char *err,
                                    size_t err_size)
{
    *out = NULL;
    if (max_len < 2) {
        snprintf(err, err_size, "max length must be at least 2 for prompt/completion data, not %d",
                 max_len);
        return AR_STATUS_INVALID_ARGUMENT;
    }
    if (ds->columns != AR_DATASET_COLUMNS_PROMPT) {
        snprintf(err, err_size, "%s: causal-LM fine-tuning needs prompt/completion data, not %s",
                 ds->path, ar_dataset_columns_name(ds->columns));
        return AR_STATUS_INVALID_ARGUMENT;
    }
    size_t cap = (size_t)ds->count * (size_t)max_len + 1;
    struct ar_encoded *s = calloc(1, sizeof *s);
    struct scratch sc = {0};
    if (s) {
        s->count = ds->count;
        s->offsets = calloc((size_t)ds->count + 1, sizeof *s->offsets);
        s->ids = malloc(cap * sizeof *s->ids);
        s->type_ids = calloc(cap, sizeof *s->type_ids);
        s->token_labels = malloc(cap * sizeof *s->token_labels);
        s->labels = malloc(((size_t)ds->count + 1) * sizeof *s->labels);
        s->lines = malloc(((size_t)ds->count + 1) * sizeof *s->lines);
    }
    if (!s || !s->offsets || !s->ids || !s->type_ids || !s->token_labels || !s->labels ||
        !s->lines) {
        ar_encoded_free(s);
        snprintf(err, err_size, "%s: out of memory for %zu tokens", ds->path, cap);
        return AR_STATUS_OUT_OF_MEMORY;
    }
    size_t at = 0;
    enum ar_status st = AR_STATUS_OK;
    for (int i = 0; i < ds->count && st == AR_STATUS_OK; i++) {
        const struct ar_example *e = &ds->examples[i];
        char why[256] = "";
        bool cut = false;
        int n = encode_row(enc, e, max_len, &sc, s->ids + at, s->token_labels + at, &cut, &st, why,
                           sizeof why);
        if (n < 0) {
            snprintf(err, err_size, "%s:%d: cannot tokenize: %s", ds->path, e->line, why);
            break;
        }
        st = AR_STATUS_OK;
        s->offsets[i] = (int64_t)at;
        s->labels[i] = -1;
        s->lines[i] = e->line;
        s->truncated += cut;
        s->max_len = n > s->max_len ? n : s->max_len;
        at += (size_t)n;
    }
    free(sc.p);
    free(sc.c);
    free(sc.types);
    if (st != AR_STATUS_OK) {
        ar_encoded_free(s);
        return st;
    }
    s->offsets[ds->count] = (int64_t)at;
    *out = s;
    return AR_STATUS_OK;
}

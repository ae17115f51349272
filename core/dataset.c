/* Tokenized data sets: encoding, subsets, the validation split, per-epoch shuffles and padded
 * batches (see dataset.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adarank/dataset.h"
#include "adarank/tokenizer.h"

/* ---- randomness ----------------------------------------------------------------------------
 * SplitMix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number generators", OOPSLA
 * 2014): a 64-bit state stepped by a Weyl constant and finalised by a mixer. Seeding a stream
 * from mix(seed) ^ mix(epoch) makes each epoch's order a function of (seed, epoch) alone. */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t next64(uint64_t *state)
{
    *state += 0x9E3779B97F4A7C15ULL;
    return mix64(*state);
}

/* Uniform in [0, bound) without modulo bias: rejection from the largest multiple of bound. */
static uint64_t below(uint64_t *state, uint64_t bound)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t x;
    do
        x = next64(state);
    while (x >= limit);
    return x % bound;
}

void ar_dataset_permutation(int n, uint64_t seed, uint64_t epoch, int *perm)
{
    uint64_t state = mix64(seed ^ 0x5EED5EED5EED5EEDULL) ^ mix64(epoch + 0x0E90C40E90C4ULL);
    for (int i = 0; i < n; i++)
        perm[i] = i;
    for (int i = n - 1; i > 0; i--) { /* Fisher-Yates, from the back */
        int j = (int)below(&state, (uint64_t)i + 1);
        int t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
}

/* ---- encoded sets ---------------------------------------------------------------------------- */

void ar_encoded_free(struct ar_encoded *set)
{
    if (!set)
        return;
    free(set->offsets);
    free(set->ids);
    free(set->type_ids);
    free(set->labels);
    free(set->lines);
    free(set->token_labels);
    for (int i = 0; set->label_names && i < set->num_labels; i++)
        free(set->label_names[i]);
    free(set->label_names);
    free(set);
}

/* A token-classification set's per-token labels and tag names for `s` (tokens of them). */
static bool copy_token_parts(struct ar_encoded *s, const struct ar_encoded *from, size_t tokens)
{
    if (!from->token_labels)
        return true;
    s->token_labels = malloc((tokens ? tokens : 1) * sizeof *s->token_labels);
    s->label_names = calloc((size_t)from->num_labels + 1, sizeof *s->label_names);
    if (!s->token_labels || !s->label_names)
        return false;
    for (int i = 0; i < from->num_labels; i++)
        if (!(s->label_names[i] = strdup(from->label_names[i])))
            return false;
    return true;
}

/* A set for `count` examples and `tokens` tokens in all. */
static struct ar_encoded *encoded_new(int count, size_t tokens)
{
    struct ar_encoded *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->count = count;
    s->offsets = calloc((size_t)count + 1, sizeof *s->offsets);
    s->ids = malloc((tokens ? tokens : 1) * sizeof *s->ids);
    s->type_ids = malloc((tokens ? tokens : 1) * sizeof *s->type_ids);
    s->labels = malloc(((size_t)count + 1) * sizeof *s->labels);
    s->lines = malloc(((size_t)count + 1) * sizeof *s->lines);
    if (!s->offsets || !s->ids || !s->type_ids || !s->labels || !s->lines) {
        ar_encoded_free(s);
        return NULL;
    }
    return s;
}

enum ar_status ar_dataset_tokenizer_encode(void *tokenizer, const char *text, const char *text_b,
                                           int max_len, int32_t *ids, int32_t *type_ids, int *len,
                                           char *err, size_t err_size)
{
    return ar_tokenizer_encode(tokenizer, text, strlen(text), text_b, text_b ? strlen(text_b) : 0,
                               max_len, ids, type_ids, len, err, err_size);
}

enum ar_status ar_dataset_encode(const struct ar_dataset *ds, ar_encode_fn encode, void *user,
                                 int max_len, struct ar_encoded **out, char *err,
                                 size_t err_size)
{
    *out = NULL;
    if (max_len < 1) {
        snprintf(err, err_size, "max length must be at least 1, not %d", max_len);
        return AR_STATUS_INVALID_ARGUMENT;
    }
    if (ds->columns == AR_DATASET_COLUMNS_TOKENS) {
        snprintf(err, err_size, "%s: words and tags are encoded with ar_dataset_encode_words",
                 ds->path);
        return AR_STATUS_INVALID_ARGUMENT;
    }
    /* Every example fits in max_len, so count·max_len bounds the total (+1: the probe below);
     * trimmed at the end. */
    size_t cap = (size_t)ds->count * (size_t)max_len + 1;
    struct ar_encoded *s = encoded_new(ds->count, cap);
    if (!s) {
        snprintf(err, err_size, "%s: out of memory for %zu tokens", ds->path, cap);
        return AR_STATUS_OUT_OF_MEMORY;
    }
    s->num_labels = ds->num_labels;
    size_t at = 0;
    for (int i = 0; i < ds->count; i++) {
        const struct ar_example *e = &ds->examples[i];
        int len = 0;
        char why[256] = "";
        /* One token more than allowed tells whether the example was cut: only those are
         * encoded a second time, at the real limit. */
        enum ar_status st = encode(user, e->text, e->text_b, max_len + 1, s->ids + at,
                                   s->type_ids + at, &len, why, sizeof why);
        if (st == AR_STATUS_OK && len == max_len + 1) {
            s->truncated++;
            st = encode(user, e->text, e->text_b, max_len, s->ids + at, s->type_ids + at, &len,
                        why, sizeof why);
        }
        if (st == AR_STATUS_OK && (len < 1 || len > max_len)) {
            snprintf(why, sizeof why, "the encoder returned %d tokens (limit %d)", len, max_len);
            st = AR_STATUS_INVALID_ARGUMENT;
        }
        if (st != AR_STATUS_OK) {
            snprintf(err, err_size, "%s:%d: cannot tokenize: %s", ds->path, e->line, why);
            ar_encoded_free(s);
            return st;
        }
        s->offsets[i] = (int64_t)at;
        s->labels[i] = e->label;
        s->lines[i] = e->line;
        at += (size_t)len;
        if (len > s->max_len)
            s->max_len = len;
    }
    s->offsets[ds->count] = (int64_t)at;
    int32_t *ids = realloc(s->ids, (at ? at : 1) * sizeof *ids);
    int32_t *types = realloc(s->type_ids, (at ? at : 1) * sizeof *types);
    if (ids)
        s->ids = ids;
    if (types)
        s->type_ids = types;
    *out = s;
    return AR_STATUS_OK;
}

enum ar_status ar_encoded_subset(const struct ar_encoded *set, const int *rows, int n,
                                 struct ar_encoded **out)
{
    *out = NULL;
    size_t tokens = 0;
    for (int k = 0; k < n; k++) {
        if (rows[k] < 0 || rows[k] >= set->count)
            return AR_STATUS_INVALID_ARGUMENT;
        tokens += (size_t)ar_encoded_length(set, rows[k]);
    }
    struct ar_encoded *s = encoded_new(n, tokens);
    if (s)
        s->num_labels = set->num_labels;
    if (!s || !copy_token_parts(s, set, tokens)) {
        ar_encoded_free(s);
        return AR_STATUS_OUT_OF_MEMORY;
    }
    size_t at = 0;
    for (int k = 0; k < n; k++) {
        int i = rows[k], len = ar_encoded_length(set, i);
        memcpy(s->ids + at, set->ids + set->offsets[i], (size_t)len * sizeof *s->ids);
        memcpy(s->type_ids + at, set->type_ids + set->offsets[i],
               (size_t)len * sizeof *s->type_ids);
        if (s->token_labels)
            memcpy(s->token_labels + at, set->token_labels + set->offsets[i],
                   (size_t)len * sizeof *s->token_labels);
        s->offsets[k] = (int64_t)at;
        s->labels[k] = set->labels[i];
        s->lines[k] = set->lines[i];
        at += (size_t)len;
        if (len > s->max_len)
            s->max_len = len;
    }
    s->offsets[n] = (int64_t)at;
    *out = s;
    return AR_STATUS_OK;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

enum ar_status ar_encoded_split(const struct ar_encoded *set, double fraction, uint64_t seed,
                                struct ar_encoded **train, struct ar_encoded **val, char *err,
                                size_t err_size)
{
    *train = *val = NULL;
    if (!(fraction > 0 && fraction < 1)) {
        snprintf(err, err_size, "validation fraction must be in (0, 1), not %g", fraction);
        return AR_STATUS_INVALID_ARGUMENT;
    }
    if (set->count < 2) {
        snprintf(err, err_size, "cannot split %d example(s) into training and validation",
                 set->count);
        return AR_STATUS_INVALID_ARGUMENT;
    }
    int n_val = (int)lround(fraction * set->count);
    n_val = n_val < 1 ? 1 : n_val > set->count - 1 ? set->count - 1 : n_val;
    int *perm = malloc((size_t)set->count * sizeof *perm);
    if (!perm)
        return AR_STATUS_OUT_OF_MEMORY;
    /* A stream of its own (epoch = UINT64_MAX): the split must not equal epoch 0's order. */
    ar_dataset_permutation(set->count, seed, UINT64_MAX, perm);
    qsort(perm, (size_t)n_val, sizeof *perm, cmp_int);
    qsort(perm + n_val, (size_t)(set->count - n_val), sizeof *perm, cmp_int);
    enum ar_status st = ar_encoded_subset(set, perm, n_val, val);
    if (st == AR_STATUS_OK)
        st = ar_encoded_subset(set, perm + n_val, set->count - n_val, train);
    free(perm);
    if (st != AR_STATUS_OK) {
        ar_encoded_free(*val);
        *val = NULL;
        snprintf(err, err_size, "out of memory while splitting");
    }
    return st;
}

/* ---- padded batches ------------------------------------------------------------------------- */

void ar_padded_batch_free(struct ar_padded_batch *b)
{
    free(b->ids);
    free(b->type_ids);
    free(b->attn_mask);
    free(b->labels);
    free(b->token_labels);
    memset(b, 0, sizeof *b);
}

static bool grow(int32_t **p, size_t n)
{
    int32_t *q = realloc(*p, n * sizeof *q);
    if (q)
        *p = q;
    return q != NULL;
}

enum ar_status ar_padded_batch_fill(struct ar_padded_batch *b, const struct ar_encoded *set,
                                    const int *rows, int n, int32_t pad_id)
{
    int time = 0;
    for (int k = 0; k < n; k++) {
        if (rows[k] < 0 || rows[k] >= set->count)
            return AR_STATUS_INVALID_ARGUMENT;
        int len = ar_encoded_length(set, rows[k]);
        time = len > time ? len : time;
    }
    size_t cells = (size_t)n * (size_t)time;
    if (cells > b->cap_tokens) {
        if (!grow(&b->ids, cells) || !grow(&b->type_ids, cells) || !grow(&b->attn_mask, cells))
            return AR_STATUS_OUT_OF_MEMORY;
        b->cap_tokens = cells;
    }
    if (!set->token_labels) {
        free(b->token_labels);
        b->token_labels = NULL;
    } else if (!grow(&b->token_labels, cells)) { /* not kept with cap_tokens: sets alternate */
        return AR_STATUS_OUT_OF_MEMORY;
    }
    if ((size_t)n > b->cap_rows) {
        if (!grow(&b->labels, (size_t)n))
            return AR_STATUS_OUT_OF_MEMORY;
        b->cap_rows = (size_t)n;
    }
    b->batch = n, b->time = time, b->tokens = 0;
    for (int k = 0; k < n; k++) {
        int i = rows[k], len = ar_encoded_length(set, i);
        int32_t *ids = b->ids + (size_t)k * time, *types = b->type_ids + (size_t)k * time;
        int32_t *mask = b->attn_mask + (size_t)k * time;
        for (int t = 0; t < time; t++) {
            bool real = t < len;
            ids[t] = real ? set->ids[set->offsets[i] + t] : pad_id;
            types[t] = real ? set->type_ids[set->offsets[i] + t] : 0;
            mask[t] = real;
            if (b->token_labels)
                b->token_labels[(size_t)k * time + t] =
                    real ? set->token_labels[set->offsets[i] + t] : AR_IGNORE_LABEL;
        }
        b->labels[k] = set->labels[i];
        b->tokens += (size_t)len;
    }
    return AR_STATUS_OK;
}

/* Tokenizing token-classification rows (dataset.h): words to sub-tokens, and the tags of the
 * words onto the sub-tokens as transformers' token-classification examples align them
 * (tokenize_and_align_labels in run_ner.py with label_all_tokens=False): the tag of a word on its
 * first sub-token, AR_IGNORE_LABEL on its other sub-tokens and on the special tokens.
 *
 * Words are encoded one at a time, which is what `tokenizers` does with pre-tokenized input
 * (is_split_into_words=True): the normalizer, pre-tokenizer and model see each word alone, and
 * the post-processor adds the special tokens once around the whole sequence.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adarank/dataset.h"
#include "dataset_internal.h"
#include "tokenizer_internal.h"

/* The single-sequence template's special ids before sequence A (front) and in all, and A's
 * type id. */
static void template_sides(const struct ar_tokenizer *tok, int *front, int *type_a)
{
    const struct ar__tmpl *t = &tok->single;
    *front = 0, *type_a = 0;
    for (int i = 0; i < t->count; i++) {
        if (t->items[i].seq == 0) {
            *type_a = t->items[i].type_id;
            return;
        }
        *front += t->items[i].n_ids;
    }
}

/* Byte-level BPE: transformers requires add_prefix_space=True for split words, which makes the
 * ByteLevel step put a space before every word; a file saved without it gets the space here. */
static bool needs_space(const struct ar_tokenizer *tok)
{
    for (int i = 0; i < tok->n_pretoks; i++)
        if (tok->pretoks[i].kind == AR__PRETOK_BYTELEVEL)
            return !tok->pretoks[i].add_prefix_space;
    return false;
}

/* One word's sub-tokens, without the special tokens, into ids[0..*n). ids holds `room`. */
static enum ar_status word_pieces(const struct ar_tokenizer *tok, const char *word, bool space,
                                  int32_t *buf, int cap, int front, int32_t *ids, int room,
                                  int *n, char *err, size_t err_size)
{
    char local[256], *text = local;
    size_t len = strlen(word) + (space ? 1 : 0);
    if (len >= sizeof local && !(text = malloc(len + 1))) {
        snprintf(err, err_size, "out of memory");
        return AR_STATUS_OUT_OF_MEMORY;
    }
    snprintf(text, len + 1, "%s%s", space ? " " : "", word);
    int got = 0;
    enum ar_status st = ar_tokenizer_encode(tok, text, len, NULL, 0, cap, buf, NULL, &got, err,
                                            err_size);
    if (text != local)
        free(text);
    int pieces = got - tok->single.n_special;
    *n = 0;
    for (int k = 0; st == AR_STATUS_OK && k < pieces && *n < room; k++)
        ids[(*n)++] = buf[front + k];
    return st;
}

enum ar_status ar_dataset_tokenizer_encode_words(void *tokenizer, const char *const *words,
                                                 int n_words, int max_len, int32_t *ids,
                                                 int32_t *type_ids, int32_t *word_ids, int *len,
                                                 char *err, size_t err_size)
{
    const struct ar_tokenizer *tok = tokenizer;
    int special = tok->single.n_special, front = 0, type_a = 0;
    *len = 0;
    if (max_len < special || max_len < 1) {
        snprintf(err, err_size, "max_len %d cannot hold the %d special tokens", max_len, special);
        return AR_STATUS_INVALID_ARGUMENT;
    }
    template_sides(tok, &front, &type_a);
    /* the special tokens alone, from an empty text: front ones, then the rest */
    int32_t spec_ids[64], spec_types[64];
    int n_spec = 0;
    if (special > 64) {
        snprintf(err, err_size, "the tokenizer's template adds %d special tokens", special);
        return AR_STATUS_UNSUPPORTED;
    }
    enum ar_status st = ar_tokenizer_encode(tok, "", 0, NULL, 0, 64, spec_ids, spec_types,
                                            &n_spec, err, err_size);
    bool space = needs_space(tok);
    int body = front, room = max_len - special, cap = 0;
    int32_t *buf = NULL;
    for (int w = 0; st == AR_STATUS_OK && w < n_words && body - front < room; w++) {
        /* every sub-token covers at least one byte: bytes + the space + the specials bound it */
        int need = (int)strlen(words[w]) + 2 + special;
        if (need > cap) {
            int32_t *p = realloc(buf, (size_t)need * sizeof *buf);
            if (!p) {
                snprintf(err, err_size, "out of memory");
                st = AR_STATUS_OUT_OF_MEMORY;
                break;
            }
            buf = p, cap = need;
        }
        int n = 0;
        st = word_pieces(tok, words[w], space, buf, cap, front, ids + body, room - (body - front),
                         &n, err, err_size);
        for (int k = 0; k < n; k++) {
            type_ids[body + k] = type_a;
            word_ids[body + k] = w;
        }
        body += n;
    }
    free(buf);
    if (st != AR_STATUS_OK)
        return st;
    for (int k = 0; k < n_spec; k++) { /* front specials at 0.., the others after the body */
        int at = k < front ? k : body + (k - front);
        ids[at] = spec_ids[k];
        type_ids[at] = spec_types[k];
        word_ids[at] = -1;
    }
    *len = body + (n_spec - front);
    return AR_STATUS_OK;
}

/* ---- a whole data set ---------------------------------------------------------------------- */

/* Example e's words and tags through encode, at set->ids + at…; the labels aligned. */
static enum ar_status encode_row(const struct ar_example *e, ar_encode_words_fn encode,
                                 void *user, int max_len, struct ar_encoded *s, size_t at,
                                 const char **words, int32_t *word_ids, int *len, bool *cut,
                                 char *why, size_t why_size)
{
    const char *w = e->text;
    for (int k = 0; k < e->words; k++, w += strlen(w) + 1)
        words[k] = w;
    enum ar_status st = encode(user, words, e->words, max_len, s->ids + at, s->type_ids + at,
                               word_ids, len, why, why_size);
    if (st == AR_STATUS_OK && (*len < 1 || *len > max_len)) {
        snprintf(why, why_size, "the encoder returned %d tokens (limit %d)", *len, max_len);
        st = AR_STATUS_INVALID_ARGUMENT;
    }
    int last = -1;
    for (int t = 0; st == AR_STATUS_OK && t < *len; t++) {
        int wid = word_ids[t];
        if (wid >= e->words) {
            snprintf(why, why_size, "the encoder gave word %d of %d", wid, e->words);
            return AR_STATUS_INVALID_ARGUMENT;
        }
        bool first = wid >= 0 && (t == 0 || word_ids[t - 1] != wid);
        s->token_labels[at + (size_t)t] = first ? e->tags[wid] : AR_IGNORE_LABEL;
        last = wid > last ? wid : last;
    }
    /* a word after the last one seen was cut off (or the row ends in words without pieces) */
    *cut = st == AR_STATUS_OK && *len == max_len && last < e->words - 1;
    return st;
}

enum ar_status ar_dataset_encode_words(const struct ar_dataset *ds, ar_encode_words_fn encode,
                                       void *user, int max_len, struct ar_encoded **out,
                                       char *err, size_t err_size)
{
    *out = NULL;
    if (max_len < 1 || ds->columns != AR_DATASET_COLUMNS_TOKENS) {
        snprintf(err, err_size, "%s: %s", ds->path,
                 max_len < 1 ? "max length must be at least 1"
                             : "not token classification data (tokens, ner_tags)");
        return AR_STATUS_INVALID_ARGUMENT;
    }
    int most = 1;
    for (int i = 0; i < ds->count; i++)
        most = ds->examples[i].words > most ? ds->examples[i].words : most;
    size_t cap = (size_t)ds->count * (size_t)max_len + 1;
    struct ar_encoded *s = calloc(1, sizeof *s);
    const char **words = malloc((size_t)most * sizeof *words);
    int32_t *word_ids = malloc((size_t)max_len * sizeof *word_ids);
    if (s) {
        s->count = ds->count, s->num_labels = ds->num_labels;
        s->offsets = calloc((size_t)ds->count + 1, sizeof *s->offsets);
        s->ids = malloc(cap * sizeof *s->ids);
        s->type_ids = malloc(cap * sizeof *s->type_ids);
        s->token_labels = malloc(cap * sizeof *s->token_labels);
        s->labels = malloc(((size_t)ds->count + 1) * sizeof *s->labels);
        s->lines = malloc(((size_t)ds->count + 1) * sizeof *s->lines);
        s->label_names = ar__dataset_dup_names((const char *const *)ds->label_names, ds->num_labels);
    }
    enum ar_status st = s && words && word_ids && s->offsets && s->ids && s->type_ids &&
                                s->token_labels && s->labels && s->lines && s->label_names
                            ? AR_STATUS_OK
                            : AR_STATUS_OUT_OF_MEMORY;
    if (st != AR_STATUS_OK)
        snprintf(err, err_size, "%s: out of memory for %zu tokens", ds->path, cap);
    size_t at = 0;
    for (int i = 0; st == AR_STATUS_OK && i < ds->count; i++) {
        const struct ar_example *e = &ds->examples[i];
        char why[256] = "";
        int len = 0;
        bool cut = false;
        st = encode_row(e, encode, user, max_len, s, at, words, word_ids, &len, &cut, why,
                        sizeof why);
        if (st != AR_STATUS_OK) {
            snprintf(err, err_size, "%s:%d: cannot tokenize: %s", ds->path, e->line, why);
            break;
        }
        s->offsets[i] = (int64_t)at;
        s->labels[i] = -1;
        s->lines[i] = e->line;
        s->truncated += cut;
        s->max_len = len > s->max_len ? len : s->max_len;
        at += (size_t)len;
    }
    free(words);
    free(word_ids);
    if (st != AR_STATUS_OK) {
        ar_encoded_free(s);
        return st;
    }
    s->offsets[ds->count] = (int64_t)at;
    *out = s;
    return AR_STATUS_OK;
}

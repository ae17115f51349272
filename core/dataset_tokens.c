/* Token-classification data (the TOKENS column set, dataset.h): JSONL rows with a list of words
 * and a list of as many tags, as Hugging Face datasets such as conll2003 write them:
 *
 *     {"tokens": ["EU", "rejects", "German", "call"], "ner_tags": ["B-ORG", "O", "B-MISC", "O"]}
 *
 * Tags are names or non-negative integers. Their ids follow the labels' rules (dataset_load.c):
 * all integers: the integers themselves, "0".."max"; else the sorted set of names; or a given
 * list (the training file's, for validation and test), where an integer tag below the list's
 * length is also taken as an id (conll2003's integer tags with the ClassLabel names given as
 * "labels"). A bad row is a "FILE:LINE: what" like every other reader's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset_internal.h"
#include "json.h"

/* The tag's text: a string as is, an integer in decimal; NULL when it is neither. */
static const char *tag_text(const struct ar__json_node *t, char *num, size_t num_size)
{
    if (t->type == AR__JSON_STRING && strlen(t->str) == t->len && t->len > 0)
        return t->str;
    if (t->type == AR__JSON_NUMBER && t->is_int && t->i64 >= 0) {
        snprintf(num, num_size, "%lld", (long long)t->i64);
        return num;
    }
    return NULL;
}

/* The id of a tag among given names: by name, else an integer below their count; -1. */
static int given_id(const struct ar_dataset_params *p, const char *tag)
{
    for (int k = 0; k < p->label_count; k++)
        if (!strcmp(p->labels[k], tag))
            return k;
    long v;
    if (ar__dataset_integer_label(tag, &v) && v < p->label_count)
        return (int)v;
    return -1;
}

static bool check_lists(struct ar__dataset_builder *b, int line, const struct ar__json_node *w,
                        const struct ar__json_node *t)
{
    if (!w || !t) {
        ar__dataset_bad_row(b, line, "no \"%s\" member", !w ? b->col_a : b->col_label);
        return false;
    }
    if (w->type != AR__JSON_ARRAY || t->type != AR__JSON_ARRAY) {
        ar__dataset_bad_row(b, line, "\"%s\" must be a list of %s",
                            w->type != AR__JSON_ARRAY ? b->col_a : b->col_label,
                            w->type != AR__JSON_ARRAY ? "words" : "tags");
        return false;
    }
    if (w->count != t->count) {
        ar__dataset_bad_row(b, line, "%zu words in \"%s\" but %zu tags in \"%s\"", w->count,
                            b->col_a, t->count, b->col_label);
        return false;
    }
    if (w->count == 0) {
        ar__dataset_bad_row(b, line, "\"%s\" is an empty list", b->col_a);
        return false;
    }
    return true;
}

void ar__dataset_tokens_row(struct ar__dataset_builder *b, int line,
                            const struct ar__json_node *obj)
{
    const struct ar__json_node *w = ar__json_get(obj, b->col_a);
    const struct ar__json_node *t = ar__json_get(obj, b->col_label);
    if (!check_lists(b, line, w, t))
        return;
    char num[32];
    for (size_t i = 0; i < w->count; i++) { /* the whole row first: nothing stored if bad */
        const struct ar__json_node *word = w->items[i], *tag = t->items[i];
        if (word->type != AR__JSON_STRING || strlen(word->str) != word->len) {
            ar__dataset_bad_row(b, line, "word %zu of \"%s\" must be a string without NUL",
                                i + 1, b->col_a);
            return;
        }
        const char *text = tag_text(tag, num, sizeof num);
        if (!text) {
            ar__dataset_bad_row(b, line,
                                "tag %zu of \"%s\" must be a non-empty string or an integer >= 0",
                                i + 1, b->col_label);
            return;
        }
        if (b->p->labels && given_id(b->p, text) < 0) {
            ar__dataset_bad_row(b, line, "unknown tag \"%.64s\" (word %zu; not among the %d "
                                "known tags)", text, i + 1, b->p->label_count);
            return;
        }
    }
    /* words, then tags, each NUL-terminated and contiguous in the store */
    struct ar__dataset_row r = {.line = line, .text_b = AR__DATASET_NONE, .words = (int)w->count};
    for (size_t i = 0; i < w->count; i++) {
        size_t at = ar__dataset_store_put(b, w->items[i]->str, w->items[i]->len);
        r.text = i ? r.text : at;
    }
    for (size_t i = 0; i < t->count; i++) {
        const char *text = tag_text(t->items[i], num, sizeof num);
        size_t at = ar__dataset_store_put(b, text, strlen(text));
        r.label = i ? r.label : at;
    }
    if (!b->oom)
        ar__dataset_add_row(b, &r);
}

/* ---- tag ids ------------------------------------------------------------------------------- */

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Every tag of the file, in order (pointers into the store); n = the total. */
static const char **all_tags(struct ar__dataset_builder *b, size_t *n)
{
    *n = 0;
    for (int i = 0; i < b->nrows; i++)
        *n += (size_t)b->rows[i].words;
    const char **tags = malloc((*n ? *n : 1) * sizeof *tags);
    size_t k = 0;
    for (int i = 0; tags && i < b->nrows; i++) {
        const char *s = b->store + b->rows[i].label;
        for (int j = 0; j < b->rows[i].words; j++, s += strlen(s) + 1)
            tags[k++] = s;
    }
    return tags;
}

/* Names from the data: "0".."max" when every tag is an integer, else the sorted set. */
static enum ar_status derive_names(struct ar__dataset_builder *b, struct ar_dataset *ds,
                                   const char **tags, size_t n, char *err, size_t err_size)
{
    long v, max = -1;
    bool ints = true;
    for (size_t i = 0; i < n && ints; i++)
        if ((ints = ar__dataset_integer_label(tags[i], &v)) && v > max)
            max = v;
    if (ints && max >= AR_DATASET_MAX_LABELS) {
        snprintf(err, err_size, "%s: integer tag %ld in '%s' is above the limit of %d tags",
                 b->name, max, b->col_label, AR_DATASET_MAX_LABELS);
        return AR_STATUS_BAD_FORMAT;
    }
    size_t room = ints && (size_t)max + 1 > n ? (size_t)max + 1 : n;
    const char **names = malloc((room ? room : 1) * sizeof *names);
    char (*nums)[16] = ints ? calloc((size_t)max + 1, sizeof *nums) : NULL;
    int count = 0;
    enum ar_status st = names && (!ints || nums) ? AR_STATUS_OK : AR_STATUS_OUT_OF_MEMORY;
    if (st == AR_STATUS_OK && ints) {
        for (count = 0; count <= max; count++) {
            snprintf(nums[count], sizeof nums[count], "%d", count);
            names[count] = nums[count];
        }
    } else if (st == AR_STATUS_OK) {
        memcpy(names, tags, n * sizeof *names);
        qsort(names, n, sizeof *names, cmp_str);
        for (size_t i = 0; i < n; i++)
            if (count == 0 || strcmp(names[count - 1], names[i]))
                names[count++] = names[i];
    }
    if (st == AR_STATUS_OK && count > AR_DATASET_MAX_LABELS) {
        snprintf(err, err_size, "%s: %d distinct tags in '%s', above the limit of %d", b->name,
                 count, b->col_label, AR_DATASET_MAX_LABELS);
        st = AR_STATUS_BAD_FORMAT;
    }
    if (st == AR_STATUS_OK && !(ds->label_names = ar__dataset_dup_names(names, count)))
        st = AR_STATUS_OUT_OF_MEMORY;
    ds->num_labels = st == AR_STATUS_OK ? count : 0;
    ds->integer_labels = ints;
    free(names);
    free(nums);
    return st;
}

static int find_id(const struct ar_dataset *ds, const struct ar_dataset_params *p, const char *tag)
{
    if (p->labels)
        return given_id(p, tag);
    long v;
    if (ds->integer_labels)
        return ar__dataset_integer_label(tag, &v) ? (int)v : -1;
    const char **hit = bsearch(&tag, ds->label_names, (size_t)ds->num_labels,
                               sizeof *ds->label_names, cmp_str);
    return hit ? (int)(hit - (const char **)ds->label_names) : -1;
}

enum ar_status ar__dataset_tokens_labels(struct ar__dataset_builder *b, struct ar_dataset *ds,
                                         char *err, size_t err_size)
{
    size_t n = 0;
    const char **tags = all_tags(b, &n);
    ds->tag_storage = malloc((n ? n : 1) * sizeof *ds->tag_storage);
    if (!tags || !ds->tag_storage) {
        free(tags);
        return AR_STATUS_OUT_OF_MEMORY;
    }
    enum ar_status st = AR_STATUS_OK;
    if (b->p->labels) {
        ds->label_names = ar__dataset_dup_names(b->p->labels, b->p->label_count);
        ds->num_labels = ds->label_names ? b->p->label_count : 0;
        st = ds->label_names ? AR_STATUS_OK : AR_STATUS_OUT_OF_MEMORY;
    } else {
        st = derive_names(b, ds, tags, n, err, err_size);
    }
    size_t k = 0;
    for (int i = 0; st == AR_STATUS_OK && i < ds->count; i++) {
        ds->examples[i].tags = ds->tag_storage + k;
        for (int j = 0; j < ds->examples[i].words; j++, k++)
            ds->tag_storage[k] = find_id(ds, b->p, tags[k]); /* every tag was checked above */
    }
    free(tags);
    return st;
}

/* Setting one key of a training config (train_config_internal.h): from command-line text
 * (ar_train_config_set) or from a config file's JSON value (ar__train_config_set_json), each
 * range, type and enum value checked; ar_train_config_clear frees what the keys hold. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adarank/train.h"
#include "train_config_internal.h"

#define C(m) offsetof(struct ar_train_config, m)

static void free_list(char ***list, int *count)
{
    for (int i = 0; *list && i < *count; i++)
        free((*list)[i]);
    free(*list);
    *list = NULL, *count = 0;
}

void ar_train_config_clear(struct ar_train_config *c)
{
    for (size_t i = 0; i < ar__train_key_count; i++) {
        const struct ar__train_key *k = &ar__train_keys[i];
        if (k->kind == AR__TRAIN_KEY_STRING || k->kind == AR__TRAIN_KEY_PATH ||
            (k->kind == AR__TRAIN_KEY_LIST && k->off == C(targets))) {
            char **s = (char **)((char *)c + k->off);
            free(*s);
            *s = NULL;
        }
    }
    free_list(&c->labels, &c->label_count);
}

/* ---- setting one key --------------------------------------------------------------------- */

static enum ar_status set_string(char **slot, const char *value)
{
    char *copy = value ? strdup(value) : NULL;
    if (value && !copy)
        return AR_STATUS_OUT_OF_MEMORY;
    free(*slot);
    *slot = copy;
    return AR_STATUS_OK;
}

/* "a, b,c" → {"a", "b", "c"}: the labels list. Empty items are an error. */
static enum ar_status set_labels(struct ar_train_config *c, const char *const *items, int n,
                                 char *err, size_t err_size)
{
    char **list = calloc((size_t)(n > 0 ? n : 1), sizeof *list);
    if (!list)
        return AR_STATUS_OUT_OF_MEMORY;
    for (int i = 0; i < n; i++) {
        if (!items[i][0] || !(list[i] = strdup(items[i]))) {
            bool empty = !items[i][0];
            if (empty)
                snprintf(err, err_size, "labels: item %d is empty", i + 1);
            free_list(&list, &i); /* the i names copied so far */
            return empty ? AR_STATUS_INVALID_ARGUMENT : AR_STATUS_OUT_OF_MEMORY;
        }
    }
    free_list(&c->labels, &c->label_count);
    c->labels = n ? list : NULL, c->label_count = n;
    if (!n)
        free(list);
    return AR_STATUS_OK;
}

enum ar_status ar_train_config_set_labels(struct ar_train_config *c, const char *const *names,
                                          int n)
{
    char err[128];
    return set_labels(c, names, n, err, sizeof err);
}

static enum ar_status set_list_text(struct ar_train_config *c, const struct ar__train_key *k,
                                    const char *value, char *err, size_t err_size)
{
    if (k->off == C(targets))
        return set_string(&c->targets, value);
    /* split at commas, trimming blanks */
    char *copy = strdup(value);
    const char **items = calloc(strlen(value) + 1, sizeof *items);
    if (!copy || !items) {
        free(copy), free(items);
        return AR_STATUS_OUT_OF_MEMORY;
    }
    int n = 0;
    for (char *tok = copy, *next; tok; tok = next) {
        next = strchr(tok, ',');
        if (next)
            *next++ = '\0';
        while (*tok == ' ')
            tok++;
        for (char *e = tok + strlen(tok); e > tok && e[-1] == ' ';)
            *--e = '\0';
        items[n++] = tok;
    }
    enum ar_status st = value[0] ? set_labels(c, items, n, err, err_size)
                                 : set_labels(c, items, 0, err, err_size);
    free(items), free(copy);
    return st;
}

static enum ar_status range_error(const struct ar__train_key *k, double v, char *err,
                                  size_t err_size)
{
    if (v >= k->min && v <= k->max)
        return AR_STATUS_OK;
    snprintf(err, err_size, "%s: %g is out of range [%g, %g]", k->name, v, k->min, k->max);
    return AR_STATUS_INVALID_ARGUMENT;
}

/* Stores a number into an int/double/seed slot after the range check. */
static enum ar_status set_number(struct ar_train_config *c, const struct ar__train_key *k,
                                 double v, bool integral, char *err, size_t err_size)
{
    void *slot = (char *)c + k->off;
    if ((k->kind == AR__TRAIN_KEY_INT || k->kind == AR__TRAIN_KEY_SEED) && !integral) {
        snprintf(err, err_size, "%s: expected an integer, got %g", k->name, v);
        return AR_STATUS_INVALID_ARGUMENT;
    }
    if (k->kind == AR__TRAIN_KEY_SEED) {
        if (v < 0 || v > 9007199254740992.0) { /* 2^53: exact in a double and in JSON */
            snprintf(err, err_size, "seed: %g is out of range [0, 2^53]", v);
            return AR_STATUS_INVALID_ARGUMENT;
        }
        *(uint64_t *)slot = (uint64_t)v;
        return AR_STATUS_OK;
    }
    enum ar_status st = range_error(k, v, err, err_size);
    if (st != AR_STATUS_OK)
        return st;
    if (k->kind == AR__TRAIN_KEY_INT)
        *(int *)slot = (int)v;
    else if (k->kind == AR__TRAIN_KEY_FLOAT)
        *(float *)slot = (float)v;
    else
        *(double *)slot = v;
    return AR_STATUS_OK;
}

static enum ar_status set_enum(struct ar_train_config *c, const struct ar__train_key *k,
                               const char *v, char *err, size_t err_size)
{
    void *slot = (char *)c + k->off;
    bool ok = k->kind == AR__TRAIN_KEY_SCHEDULE
                  ? ar_lr_schedule_parse(v, (enum ar_lr_schedule *)slot)
                  : ar_eval_metric_parse(v, (enum ar_eval_metric *)slot);
    if (!ok)
        snprintf(err, err_size, "%s: unknown value \"%s\" (%s)", k->name, v,
                 k->kind == AR__TRAIN_KEY_SCHEDULE ? "linear, cosine or constant"
                                       : "loss, accuracy, f1 or mcc");
    return ok ? AR_STATUS_OK : AR_STATUS_INVALID_ARGUMENT;
}

enum ar_status ar_train_config_set(struct ar_train_config *c, const char *name, const char *value,
                                   char *err, size_t err_size)
{
    const struct ar__train_key *k = ar__train_config_find_key(name);
    if (!k) {
        snprintf(err, err_size, "unknown key \"%s\"", name);
        return AR_STATUS_NOT_FOUND;
    }
    ar__train_config_mark_given(c, k);
    switch (k->kind) {
    case AR__TRAIN_KEY_STRING:
    case AR__TRAIN_KEY_PATH:
        /* "" unsets, like null in a file: --test "" drops a configured test file */
        return set_string((char **)((char *)c + k->off), value[0] ? value : NULL);
    case AR__TRAIN_KEY_LIST:
        return set_list_text(c, k, value, err, err_size);
    case AR__TRAIN_KEY_SCHEDULE:
    case AR__TRAIN_KEY_METRIC:
        return set_enum(c, k, value, err, err_size);
    case AR__TRAIN_KEY_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "yes"))
            *(bool *)((char *)c + k->off) = true;
        else if (!strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "no"))
            *(bool *)((char *)c + k->off) = false;
        else {
            snprintf(err, err_size, "%s: expected true or false, got \"%s\"", k->name, value);
            return AR_STATUS_INVALID_ARGUMENT;
        }
        return AR_STATUS_OK;
    default: {
        char *end;
        errno = 0;
        double v = ar__json_strtod(value, &end);
        if (end == value || *end || errno == ERANGE || !isfinite(v)) {
            snprintf(err, err_size, "%s: expected a number, got \"%s\"", k->name, value);
            return AR_STATUS_INVALID_ARGUMENT;
        }
        return set_number(c, k, v, v == floor(v), err, err_size);
    }
    }
}

const char *ar__train_config_json_type(const struct ar__json_node *n)
{
    static const char *const names[] = {"null",   "false", "true",  "a number",
                                        "a string", "an array", "an object"};
    return names[n->type];
}

/* dir + "/" + path for a relative path; a copy otherwise. */
static char *resolve(const char *dir, const char *path)
{
    if (path[0] == '/' || !dir[0])
        return strdup(path);
    size_t n = strlen(dir) + strlen(path) + 2;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s/%s", dir, path);
    return out;
}

enum ar_status ar__train_config_set_json(struct ar_train_config *c, const struct ar__train_key *k,
                                         const struct ar__json_node *v, const char *dir,
                                         char *err, size_t err_size)
{
    const char *want = NULL;
    switch (k->kind) {
    case AR__TRAIN_KEY_STRING:
    case AR__TRAIN_KEY_PATH:
        if (v->type == AR__JSON_NULL)
            return set_string((char **)((char *)c + k->off), NULL);
        if (v->type != AR__JSON_STRING) {
            want = "a string or null";
            break;
        }
        if (k->kind == AR__TRAIN_KEY_PATH) {
            char *p = resolve(dir, v->str);
            if (!p)
                return AR_STATUS_OUT_OF_MEMORY;
            free(*(char **)((char *)c + k->off));
            *(char **)((char *)c + k->off) = p;
            return AR_STATUS_OK;
        }
        return set_string((char **)((char *)c + k->off), v->str);
    case AR__TRAIN_KEY_INT:
    case AR__TRAIN_KEY_DOUBLE:
    case AR__TRAIN_KEY_FLOAT:
    case AR__TRAIN_KEY_SEED:
        if (v->type != AR__JSON_NUMBER) {
            want = "a number";
            break;
        }
        return set_number(c, k, v->num, v->num == floor(v->num), err, err_size);
    case AR__TRAIN_KEY_BOOL:
        if (v->type != AR__JSON_TRUE && v->type != AR__JSON_FALSE) {
            want = "true or false";
            break;
        }
        *(bool *)((char *)c + k->off) = v->type == AR__JSON_TRUE;
        return AR_STATUS_OK;
    case AR__TRAIN_KEY_SCHEDULE:
    case AR__TRAIN_KEY_METRIC:
        if (v->type != AR__JSON_STRING) {
            want = "a string";
            break;
        }
        return set_enum(c, k, v->str, err, err_size);
    case AR__TRAIN_KEY_LIST:
        if (v->type == AR__JSON_STRING)
            return set_list_text(c, k, v->str, err, err_size);
        if (v->type == AR__JSON_NULL && k->off == C(labels))
            return set_labels(c, NULL, 0, err, err_size);
        if (v->type != AR__JSON_ARRAY) {
            want = "a string or an array of strings";
            break;
        }
        for (size_t i = 0; i < v->count; i++)
            if (v->items[i]->type != AR__JSON_STRING) {
                snprintf(err, err_size, "%s: item %zu: expected a string, got %s", k->name, i + 1,
                         ar__train_config_json_type(v->items[i]));
                return AR_STATUS_INVALID_ARGUMENT;
            }
        if (k->off == C(labels)) {
            const char **items = calloc(v->count + 1, sizeof *items);
            if (!items)
                return AR_STATUS_OUT_OF_MEMORY;
            for (size_t i = 0; i < v->count; i++)
                items[i] = v->items[i]->str;
            enum ar_status st = set_labels(c, items, (int)v->count, err, err_size);
            free(items);
            return st;
        }
        struct ar__json_buf b = {0}; /* targets: joined with commas */
        for (size_t i = 0; i < v->count; i++) {
            if (i)
                ar__json_put(&b, ",");
            ar__json_put(&b, v->items[i]->str);
        }
        enum ar_status st = b.oom ? AR_STATUS_OUT_OF_MEMORY
                                  : set_string(&c->targets, b.data ? b.data : "");
        ar__json_buf_free(&b);
        return st;
    }
    snprintf(err, err_size, "%s: expected %s, got %s", k->name, want,
             ar__train_config_json_type(v));
    return AR_STATUS_INVALID_ARGUMENT;
}

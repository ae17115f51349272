/* ar_dataset_read's second half: class ids for the collected rows, and the public entry points
 * (see dataset.h). Ids are assigned once the whole file is known, because "sorted names" and
 * "integers" are properties of the whole label column. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dataset_internal.h"

/* ---- label ids ---------------------------------------------------------------------------- */

bool ar__dataset_integer_label(const char *s, long *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 9 || (n > 1 && s[0] == '0'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    *out = strtol(s, NULL, 10);
    return true;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

char **ar__dataset_dup_names(const char *const *names, int n)
{
    char **out = calloc((size_t)(n > 0 ? n : 0) + 1, sizeof *out); /* NULL-terminated too */
    for (int i = 0; out && i < n; i++)
        if (!(out[i] = strdup(names[i]))) {
            for (int k = 0; k < i; k++)
                free(out[k]);
            free(out);
            return NULL;
        }
    return out;
}

/* Class names from the data: "0".."max" when every label is an integer, else the sorted set. */
static enum ar_status derive_names(struct ar__dataset_builder *b, struct ar_dataset *ds, char *err,
                                   size_t err_size)
{
    long v, max = -1;
    int max_line = 0;
    bool ints = true;
    for (int i = 0; i < ds->count && ints; i++) {
        ints = ar__dataset_integer_label(b->store + b->rows[i].label, &v);
        if (ints && v > max)
            max = v, max_line = b->rows[i].line;
    }
    ds->integer_labels = ints;
    if (ints) {
        if (max >= AR_DATASET_MAX_LABELS) {
            snprintf(err, err_size, "%s:%d: integer label %ld is above the limit of %d classes",
                     b->name, max_line, max, AR_DATASET_MAX_LABELS);
            return AR_STATUS_BAD_FORMAT;
        }
        ds->num_labels = (int)max + 1;
        ds->label_names = calloc((size_t)ds->num_labels + 1, sizeof *ds->label_names);
        if (!ds->label_names)
            return AR_STATUS_OUT_OF_MEMORY;
        for (int i = 0; i < ds->num_labels; i++) {
            char num[16];
            snprintf(num, sizeof num, "%d", i);
            if (!(ds->label_names[i] = strdup(num)))
                return AR_STATUS_OUT_OF_MEMORY;
        }
        return AR_STATUS_OK;
    }
    const char **sorted = malloc((size_t)ds->count * sizeof *sorted + 1);
    if (!sorted)
        return AR_STATUS_OUT_OF_MEMORY;
    for (int i = 0; i < ds->count; i++)
        sorted[i] = b->store + b->rows[i].label;
    qsort(sorted, (size_t)ds->count, sizeof *sorted, cmp_str);
    int n = 0;
    for (int i = 0; i < ds->count; i++)
        if (n == 0 || strcmp(sorted[n - 1], sorted[i]))
            sorted[n++] = sorted[i];
    if (n > AR_DATASET_MAX_LABELS) {
        free(sorted);
        snprintf(err, err_size,
                 "%s: %d distinct labels, above the limit of %d classes (is '%s' the label "
                 "column?)",
                 b->name, n, AR_DATASET_MAX_LABELS, b->col_label);
        return AR_STATUS_BAD_FORMAT;
    }
    ds->label_names = ar__dataset_dup_names(sorted, n);
    free(sorted);
    if (!ds->label_names)
        return AR_STATUS_OUT_OF_MEMORY;
    ds->num_labels = n;
    return AR_STATUS_OK;
}

/* Fills ds->label_names and every example's class id. */
static enum ar_status assign_labels(struct ar__dataset_builder *b, struct ar_dataset *ds, char *err,
                                    size_t err_size)
{
    const struct ar_dataset_params *p = b->p;
    if (p->labels) {
        if (!(ds->label_names = ar__dataset_dup_names(p->labels, p->label_count)))
            return AR_STATUS_OUT_OF_MEMORY;
        ds->num_labels = p->label_count;
    } else {
        enum ar_status st = derive_names(b, ds, err, err_size);
        if (st != AR_STATUS_OK)
            return st;
    }
    for (int i = 0; i < ds->count; i++) {
        const char *l = b->store + b->rows[i].label;
        long v;
        int id = -1;
        if (ds->integer_labels && ar__dataset_integer_label(l, &v)) {
            id = (int)v;
        } else if (p->labels) { /* a given list need not be sorted */
            for (int k = 0; k < ds->num_labels && id < 0; k++)
                if (!strcmp(ds->label_names[k], l))
                    id = k;
        } else {
            const char **hit = bsearch(&l, ds->label_names, (size_t)ds->num_labels,
                                       sizeof *ds->label_names, cmp_str);
            id = hit ? (int)(hit - (const char **)ds->label_names) : -1;
        }
        ds->examples[i].label = id; /* found: every label was checked or derived above */
    }
    return AR_STATUS_OK;
}

/* ---- the public entry points ---------------------------------------------------------------- */

struct ar_dataset_params ar_dataset_default_params(void)
{
    struct ar_dataset_params p = {0};
    p.format = AR_DATASET_FORMAT_AUTO;
    p.columns = AR_DATASET_COLUMNS_AUTO;
    return p;
}

const char *ar_dataset_format_name(enum ar_dataset_format format)
{
    static const char *const names[] = {"auto", "jsonl", "csv", "tsv"};
    return (unsigned)format < 4 ? names[format] : "unknown";
}

const char *ar_dataset_columns_name(enum ar_dataset_columns columns)
{
    static const char *const names[] = {"auto", "text,label", "text_a,text_b,label",
                                        "prompt,completion", "tokens,ner_tags"};
    return (unsigned)columns < 5 ? names[columns] : "unknown";
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcasecmp(s + n - k, suffix);
}

static enum ar_dataset_format format_from_name(const char *name)
{
    if (ends_with(name, ".jsonl") || ends_with(name, ".json") || ends_with(name, ".ndjson"))
        return AR_DATASET_FORMAT_JSONL;
    if (ends_with(name, ".csv"))
        return AR_DATASET_FORMAT_CSV;
    if (ends_with(name, ".tsv") || ends_with(name, ".tab") || ends_with(name, ".txt"))
        return AR_DATASET_FORMAT_TSV;
    return AR_DATASET_FORMAT_AUTO;
}

void ar_dataset_free(struct ar_dataset *ds)
{
    if (!ds)
        return;
    for (int i = 0; ds->label_names && i < ds->num_labels; i++)
        free(ds->label_names[i]);
    free(ds->label_names);
    free(ds->examples);
    free(ds->storage);
    free(ds->tag_storage);
    free(ds->skip_report);
    free(ds->path);
    free(ds);
}

/* Moves the collected rows into a dataset. */
static enum ar_status finish(struct ar__dataset_builder *b, struct ar_dataset *ds, char *err,
                             size_t err_size)
{
    ds->columns = b->columns;
    ds->count = b->nrows;
    ds->examples = calloc((size_t)b->nrows, sizeof *ds->examples);
    if (!ds->examples)
        return AR_STATUS_OUT_OF_MEMORY;
    ds->storage = b->store, b->store = NULL;
    for (int i = 0; i < b->nrows; i++) {
        const struct ar__dataset_row *r = &b->rows[i];
        struct ar_example *e = &ds->examples[i];
        e->text = ds->storage + r->text;
        e->text_b = r->text_b == AR__DATASET_NONE ? NULL : ds->storage + r->text_b;
        e->label = -1;
        e->line = r->line;
        e->words = r->words;
    }
    b->store = ds->storage; /* assign_labels reads the label texts from the same store */
    enum ar_status st = b->columns == AR_DATASET_COLUMNS_TOKENS
                            ? ar__dataset_tokens_labels(b, ds, err, err_size)
                        : b->col_label ? assign_labels(b, ds, err, err_size)
                                       : AR_STATUS_OK;
    b->store = NULL;
    if (st == AR_STATUS_OK && b->bad) {
        ds->skipped = b->bad;
        ds->skip_report = b->report, b->report = NULL;
    }
    return st;
}

enum ar_status ar_dataset_read_buffer(const char *name, const char *data, size_t size,
                                      const struct ar_dataset_params *params,
                                      struct ar_dataset **out, char *err, size_t err_size)
{
    struct ar_dataset_params defaults = ar_dataset_default_params();
    const struct ar_dataset_params *p = params ? params : &defaults;
    *out = NULL;
    if (p->labels && (p->label_count < 1 || p->label_count > AR_DATASET_MAX_LABELS)) {
        snprintf(err, err_size, "%s: a label list needs 1 to %d names, not %d", name,
                 AR_DATASET_MAX_LABELS, p->label_count);
        return AR_STATUS_INVALID_ARGUMENT;
    }
    enum ar_dataset_format format = p->format ? p->format : format_from_name(name);
    if (format == AR_DATASET_FORMAT_AUTO) {
        snprintf(err, err_size,
                 "%s: cannot tell the format from the file name (use .jsonl, .csv or .tsv, or "
                 "name the format)",
                 name);
        return AR_STATUS_INVALID_ARGUMENT;
    }
    struct ar__dataset_builder b = {.name = name, .p = p};
    enum ar_status st = AR_STATUS_OK;
    if (format == AR_DATASET_FORMAT_JSONL)
        ar__dataset_read_jsonl(&b, data, size);
    else
        st = ar__dataset_read_delimited(&b, data, size, format == AR_DATASET_FORMAT_CSV ? ',' : '\t', err,
                            err_size);
    struct ar_dataset *ds = NULL;
    if (st == AR_STATUS_OK && b.oom) {
        snprintf(err, err_size, "%s: out of memory", name);
        st = AR_STATUS_OUT_OF_MEMORY;
    } else if (st == AR_STATUS_OK && b.bad && (!p->skip_bad_rows || b.nrows == 0)) {
        snprintf(err, err_size, "%s%s: %d bad row%s%s", b.report ? b.report : "", name, b.bad,
                 b.bad == 1 ? "" : "s",
                 b.nrows == 0 ? " and no good one" : " (set skip_bad_rows to skip them)");
        st = AR_STATUS_BAD_FORMAT;
    } else if (st == AR_STATUS_OK && b.nrows == 0) {
        snprintf(err, err_size, "%s: no examples", name);
        st = AR_STATUS_BAD_FORMAT;
    } else if (st == AR_STATUS_OK) {
        ds = calloc(1, sizeof *ds);
        if (!ds || !(ds->path = strdup(name)))
            st = AR_STATUS_OUT_OF_MEMORY;
        else
            ds->format = format, st = finish(&b, ds, err, err_size);
        if (st == AR_STATUS_OUT_OF_MEMORY)
            snprintf(err, err_size, "%s: out of memory", name);
    }
    free(b.store);
    free(b.rows);
    free(b.report);
    if (st != AR_STATUS_OK) {
        ar_dataset_free(ds);
        return st;
    }
    *out = ds;
    return AR_STATUS_OK;
}

enum ar_status ar_dataset_read(const char *path, const struct ar_dataset_params *params,
                               struct ar_dataset **out, char *err, size_t err_size)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? AR_STATUS_NOT_FOUND : AR_STATUS_IO;
    }
    char *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 65536) {
            cap = cap ? 2 * cap : 1 << 20;
            char *p = realloc(data, cap);
            if (!p) {
                free(data);
                fclose(f);
                snprintf(err, err_size, "%s: out of memory", path);
                return AR_STATUS_OUT_OF_MEMORY;
            }
            data = p;
        }
        size_t got = fread(data + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        free(data);
        snprintf(err, err_size, "%s: read error", path);
        return AR_STATUS_IO;
    }
    enum ar_status st = ar_dataset_read_buffer(path, data, len, params, out, err, err_size);
    free(data);
    return st;
}

/* Turns what a CLBlast tuner wrote into an adarank table (see include/adarank/tuning.h).
 *
 * Each CLBlast 1.5 tuner runs several search phases and writes one clblast_<family>_<prec>.json
 * per phase, e.g. for Xgemm: xgemm_1 (a fixed set, GEMMK=0), xgemm_2 (a random sample),
 * xgemm_11 / xgemm_12 (the same for GEMMK=1). Configurations are ranked over all files by rate
 * (2·m·n·k / time), so files from runs at different sizes (tune --size, or an --import of several
 * runs) still compare; the table takes the fastest, or the runner-up `rank` asks for when the
 * caller found the fastest computing wrong results on real shapes. A phase file
 * holds metadata as strings ("device", "precision", "arg_m"…) and "results", each with the
 * kernel variant, its time in ms and its parameters (plus PRECISION, which is not a tunable).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "json.h"

/* One measured configuration. */
struct entry {
    double rate;    /* work / time: 2·m·n·k / ms when the file gives the sizes, else 1 / ms */
    double time_ms; /* as measured */
    double flops;   /* 2·m·n·k, or 0 */
    size_t order;   /* position over all files: ties keep file order */
    const char *m, *n, *k;
    const struct ar__json_node *params;
};

struct scan {
    char device[128];
    char kernel[64];
    char precision[16];
    struct ar__json_doc *docs[64]; /* own every entry's strings and nodes */
    size_t ndocs;
    struct entry *items;
    size_t count, cap;
};

/* The tuner names the variant it timed ("XgemmDirectTN"); CLBlastOverrideParameters wants the
 * kernel family's database name. */
static void override_name(const char *variant, char *out, size_t size)
{
    static const char *const map[][2] = {
        {"XgemmDirect", "XgemmDirect"},
        {"CopyMatrixFast", "Copy"},
        {"CopyPadMatrix", "Pad"},
        {"TransposeMatrixFast", "Transpose"},
        {"TransposePadMatrix", "Padtranspose"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strncmp(variant, map[i][0], strlen(map[i][0])) == 0) {
            snprintf(out, size, "%s", map[i][1]);
            return;
        }
    snprintf(out, size, "%s", variant);
}

static const char *meta(const struct ar__json_node *root, const char *key)
{
    const char *s = NULL;
    return ar__json_as_string(ar__json_get(root, key), &s) ? s : NULL;
}

/* Checks that every phase file describes the same device, precision and kernel. */
static bool same_or_set(char *have, size_t size, const char *now, const char *what,
                        const char *path, char *err, size_t err_size)
{
    if (!have[0]) {
        snprintf(have, size, "%s", now);
        return true;
    }
    if (strcmp(have, now) == 0) return true;
    snprintf(err, err_size, "%s: %s \"%s\" differs from the other files' \"%s\"", path, what, now,
             have);
    return false;
}

static bool push(struct scan *b, struct entry e)
{
    if (b->count == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        struct entry *items = realloc(b->items, cap * sizeof *items);
        if (!items) return false;
        b->items = items, b->cap = cap;
    }
    e.order = b->count;
    b->items[b->count++] = e;
    return true;
}

static bool scan_file(const char *path, struct scan *b, char *err, size_t err_size)
{
    if (b->ndocs == sizeof b->docs / sizeof b->docs[0]) {
        snprintf(err, err_size, "%s: too many tuner files (at most %zu)", path,
                 sizeof b->docs / sizeof b->docs[0]);
        return false;
    }
    char jerr[512] = "";
    struct ar__json_doc *doc = ar__json_parse_file(path, jerr, sizeof jerr);
    if (!doc) {
        snprintf(err, err_size, "%s", jerr);
        return false;
    }
    const struct ar__json_node *root = ar__json_root(doc);
    const struct ar__json_node *results = ar__json_get(root, "results");
    const char *device = meta(root, "device"), *precision = meta(root, "precision");
    if (!device || !precision || !results || results->type != AR__JSON_ARRAY) {
        snprintf(err, err_size,
                 "%s: not a CLBlast tuner output (needs \"device\", \"precision\" "
                 "and \"results\")",
                 path);
        ar__json_free(doc);
        return false;
    }
    if (!same_or_set(b->device, sizeof b->device, device, "device", path, err, err_size) ||
        !same_or_set(b->precision, sizeof b->precision, precision, "precision", path, err,
                     err_size)) {
        ar__json_free(doc);
        return false;
    }
    b->docs[b->ndocs++] = doc; /* freed by the caller from here on */
    const char *m = meta(root, "arg_m"), *n = meta(root, "arg_n"), *k = meta(root, "arg_k");
    double flops = m && n && k ? 2.0 * atof(m) * atof(n) * atof(k) : 0;
    for (size_t i = 0; i < results->count; i++) {
        const struct ar__json_node *r = results->items[i];
        const char *variant = NULL;
        double t = 0;
        char kernel[64];
        if (!ar__json_as_string(ar__json_get(r, "kernel"), &variant) ||
            !ar__json_as_double(ar__json_get(r, "time"), &t) || !(t > 0) ||
            !ar__json_get(r, "parameters")) {
            snprintf(err, err_size, "%s: result %zu lacks kernel, time or parameters", path, i);
            return false;
        }
        override_name(variant, kernel, sizeof kernel);
        if (!same_or_set(b->kernel, sizeof b->kernel, kernel, "kernel", path, err, err_size))
            return false;
        struct entry e = {.rate = (flops > 0 ? flops : 1.0) / t,
                          .time_ms = t,
                          .flops = flops,
                          .m = m,
                          .n = n,
                          .k = k,
                          .params = ar__json_get(r, "parameters")};
        if (!push(b, e)) {
            snprintf(err, err_size, "out of memory");
            return false;
        }
    }
    return true;
}

static int faster_first(const void *pa, const void *pb)
{
    const struct entry *a = pa, *b = pb;
    if (a->rate != b->rate) return a->rate > b->rate ? -1 : 1;
    return (a->order > b->order) - (a->order < b->order);
}

static void write_table(struct ar__json_buf *o, const struct scan *b, const struct entry *e,
                        size_t rank, const char *note)
{
    char line[320];
    int n = rank ? snprintf(line, sizeof line,
                            "Number %zu by speed of %zu configurations (the faster ones were "
                            "rejected)",
                            rank + 1, b->count)
                 : snprintf(line, sizeof line, "Fastest of %zu configurations", b->count);
    if (e->flops > 0 && n > 0)
        snprintf(line + n, sizeof line - (size_t)n, " on %.16sx%.16sx%.16s: %.3f ms, %.1f GF/s.",
                 e->m, e->n, e->k, e->time_ms, e->flops / (e->time_ms * 1e6));
    else if (n > 0)
        snprintf(line + n, sizeof line - (size_t)n, ": %.3f ms.", e->time_ms);
    struct ar__json_buf text = {0};
    if (note && *note) {
        ar__json_put(&text, note);
        ar__json_put(&text, " ");
    }
    ar__json_put(&text, line);
    ar__json_put(o, "{\n  \"note\": ");
    ar__json_write_string(o, text.data ? text.data : "");
    ar__json_buf_free(&text);
    ar__json_put(o, ",\n  \"device_name\": ");
    ar__json_write_string(o, b->device);
    ar__json_put(o, ",\n  \"kernel\": ");
    ar__json_write_string(o, b->kernel);
    ar__json_put(o, ",\n  \"precision\": ");
    ar__json_put(o, b->precision);
    ar__json_put(o, ",\n  \"parameters\": {");
    for (size_t i = 0; e->params->type == AR__JSON_OBJECT && i < e->params->count; i++) {
        int64_t v = 0;
        if (strcmp(e->params->keys[i], "PRECISION") == 0 ||
            !ar__json_as_int(e->params->items[i], &v))
            continue;
        ar__json_write_key(o, e->params->keys[i]);
        ar__json_write_int(o, v);
    }
    ar__json_put(o, "}\n}\n");
}

static enum ar_status convert(struct scan *b, const char *const *paths, size_t count,
                              const char *note, size_t rank, char **out_json, char *err,
                              size_t err_size)
{
    for (size_t i = 0; i < count; i++)
        if (!scan_file(paths[i], b, err, err_size)) return AR_STATUS_BAD_FORMAT;
    if (rank >= b->count) {
        snprintf(err, err_size,
                 "%zu file(s) hold %zu valid configuration(s): none left at rank %zu", count,
                 b->count, rank + 1);
        return AR_STATUS_NOT_FOUND;
    }
    qsort(b->items, b->count, sizeof b->items[0], faster_first);
    struct ar__json_buf o = {0};
    write_table(&o, b, &b->items[rank], rank, note);
    if (o.oom) {
        ar__json_buf_free(&o);
        snprintf(err, err_size, "out of memory");
        return AR_STATUS_OUT_OF_MEMORY;
    }
    /* Check the result the way a context will read it, so a table is never stored that every
     * later run would warn about. */
    enum ar_status st = ar_tuning_table_check(o.data, o.len, err, err_size);
    if (st != AR_STATUS_OK) {
        ar__json_buf_free(&o);
        return st;
    }
    *out_json = o.data;
    return AR_STATUS_OK;
}

enum ar_status ar_tuning_table_from_tuner(const char *const *paths, size_t count, size_t rank,
                                          const char *note, char **out_json, char *kernel,
                                          size_t kernel_size, char *err, size_t err_size)
{
    struct scan *b = calloc(1, sizeof *b);
    *out_json = NULL;
    if (!b) {
        snprintf(err, err_size, "out of memory");
        return AR_STATUS_OUT_OF_MEMORY;
    }
    enum ar_status st = convert(b, paths, count, note, rank, out_json, err, err_size);
    if (st == AR_STATUS_OK) snprintf(kernel, kernel_size, "%s", b->kernel);
    for (size_t i = 0; i < b->ndocs; i++)
        ar__json_free(b->docs[i]);
    free(b->items);
    free(b);
    return st;
}

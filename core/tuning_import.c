/* Turns what a CLBlast tuner wrote into an adarank table (see include/adarank/tuning.h).
 *
 * Each CLBlast 1.5 tuner runs several search phases and writes one clblast_<family>_<prec>.json
 * per phase, e.g. for Xgemm: xgemm_1 (a fixed set, GEMMK=0), xgemm_2 (a random sample),
 * xgemm_11 / xgemm_12 (the same for GEMMK=1). The table keeps the single fastest configuration
 * over all files, compared by rate (2·m·n·k / time) so that files from runs at different sizes
 * (tune --size, or an --import of several runs) still compare fairly. A phase file
 * holds metadata as strings ("device", "precision", "arg_m"…) and "results", each with the
 * kernel variant, its time in ms and its parameters (plus PRECISION, which is not a tunable).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "json.h"

struct best {
    char device[128];
    char kernel[64];
    char precision[16];
    double time_ms, rate; /* of the best so far; rate = work / time */
    double flops;         /* 2·m·n·k when the file gives m, n, k; 0 otherwise */
    char shape[64];       /* "1024x1024x1024" then */
    size_t measured;
    struct ar__json_doc *doc; /* owns `params` */
    const struct ar__json_node *params;
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

static bool scan_file(const char *path, struct best *b, char *err, size_t err_size)
{
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
    const char *m = meta(root, "arg_m"), *n = meta(root, "arg_n"), *k = meta(root, "arg_k");
    double flops = m && n && k ? 2.0 * atof(m) * atof(n) * atof(k) : 0;
    bool keep = false;
    for (size_t i = 0; i < results->count; i++) {
        const struct ar__json_node *r = results->items[i];
        const char *variant = NULL;
        double t = 0;
        char kernel[64];
        if (!ar__json_as_string(ar__json_get(r, "kernel"), &variant) ||
            !ar__json_as_double(ar__json_get(r, "time"), &t) || !(t > 0) ||
            !ar__json_get(r, "parameters")) {
            snprintf(err, err_size, "%s: result %zu lacks kernel, time or parameters", path, i);
            ar__json_free(doc);
            return false;
        }
        override_name(variant, kernel, sizeof kernel);
        if (!same_or_set(b->kernel, sizeof b->kernel, kernel, "kernel", path, err, err_size)) {
            ar__json_free(doc);
            return false;
        }
        b->measured++;
        double rate = (flops > 0 ? flops : 1.0) / t;
        if (b->params && rate <= b->rate) continue;
        b->time_ms = t, b->rate = rate;
        b->params = ar__json_get(r, "parameters");
        keep = true;
    }
    if (keep) {
        b->flops = flops;
        if (flops > 0) snprintf(b->shape, sizeof b->shape, "%.16sx%.16sx%.16s", m, n, k);
        ar__json_free(b->doc);
        b->doc = doc;
    } else {
        ar__json_free(doc);
    }
    return true;
}

static void write_table(struct ar__json_buf *o, const struct best *b, const char *note)
{
    char line[256];
    ar__json_put(o, "{\n  \"note\": ");
    if (b->flops > 0)
        snprintf(line, sizeof line, "Fastest of %zu configurations on %s: %.3f ms, %.1f GF/s.",
                 b->measured, b->shape, b->time_ms, b->flops / (b->time_ms * 1e6));
    else
        snprintf(line, sizeof line, "Fastest of %zu configurations: %.3f ms.", b->measured,
                 b->time_ms);
    struct ar__json_buf text = {0};
    if (note && *note) {
        ar__json_put(&text, note);
        ar__json_put(&text, " ");
    }
    ar__json_put(&text, line);
    ar__json_write_string(o, text.data ? text.data : "");
    ar__json_buf_free(&text);
    ar__json_put(o, ",\n  \"device_name\": ");
    ar__json_write_string(o, b->device);
    ar__json_put(o, ",\n  \"kernel\": ");
    ar__json_write_string(o, b->kernel);
    ar__json_put(o, ",\n  \"precision\": ");
    ar__json_put(o, b->precision);
    ar__json_put(o, ",\n  \"parameters\": {");
    for (size_t i = 0; i < b->params->count; i++) {
        int64_t v = 0;
        if (strcmp(b->params->keys[i], "PRECISION") == 0 ||
            !ar__json_as_int(b->params->items[i], &v))
            continue;
        ar__json_write_key(o, b->params->keys[i]);
        ar__json_write_int(o, v);
    }
    ar__json_put(o, "}\n}\n");
}

enum ar_status ar_tuning_table_from_tuner(const char *const *paths, size_t count, const char *note,
                                          char **out_json, char *kernel, size_t kernel_size,
                                          char *err, size_t err_size)
{
    struct best b = {0};
    *out_json = NULL;
    for (size_t i = 0; i < count; i++)
        if (!scan_file(paths[i], &b, err, err_size)) {
            ar__json_free(b.doc);
            return AR_STATUS_BAD_FORMAT;
        }
    if (!b.params) {
        snprintf(err, err_size,
                 "no tuner results to convert (%zu file(s) without a valid "
                 "configuration)",
                 count);
        ar__json_free(b.doc);
        return AR_STATUS_NOT_FOUND;
    }
    struct ar__json_buf o = {0};
    write_table(&o, &b, note);
    ar__json_free(b.doc);
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
    snprintf(kernel, kernel_size, "%s", b.kernel);
    *out_json = o.data;
    return AR_STATUS_OK;
}

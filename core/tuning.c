/* CLBlast parameter tables: found per device and applied with CLBlastOverrideParameters.
 *
 * The table format and the matching rule are documented in include/adarank/tuning.h. Here:
 * reading and checking tables (user folder first, then the embedded data/clblast/ copies),
 * ranking them against the context's device, and applying the best one per (kernel, precision).
 * Nothing here fails a context: a bad table is a warning and the device keeps CLBlast's defaults.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h" /* first: it sets CL_TARGET_OPENCL_VERSION for clblast_c.h */
#include "json.h"
#include <clblast_c.h>

#define MAX_PARAMS 40      /* Xgemm has 16, XgemmDirect 10; room for any CLBlast kernel */
#define MAX_USER_TABLES 64 /* a cap so a cluttered folder cannot slow every ar_ctx_new */

struct table {
    char source[512]; /* "data/clblast/NAME.json" or the user file's path */
    char device[128];
    char kernel[64];
    int precision;
    size_t count;
    char names[MAX_PARAMS][32];
    size_t values[MAX_PARAMS];
    bool applied;
};

enum match { MATCH_NONE, MATCH_SIBLING, MATCH_EXACT };

/* ---- the user folder ---------------------------------------------------------------------- */

enum ar_status ar_tuning_user_dir(const char *dir, char *out, size_t out_size, char *err,
                                  size_t err_size)
{
    const char *env = getenv("ADARANK_TUNING_DIR");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int n;
    if (dir && *dir)
        n = snprintf(out, out_size, "%s", dir);
    else if (env && *env)
        n = snprintf(out, out_size, "%s", env);
    else if (xdg && *xdg)
        n = snprintf(out, out_size, "%s/adarank-cl/clblast", xdg);
    else if (home && *home)
        n = snprintf(out, out_size, "%s/.cache/adarank-cl/clblast", home);
    else {
        snprintf(err, err_size, "no tuning folder: set ADARANK_TUNING_DIR, XDG_CACHE_HOME or HOME");
        return AR_STATUS_NOT_FOUND;
    }
    if (n < 0 || (size_t)n >= out_size) {
        snprintf(err, err_size, "tuning folder path is longer than %zu bytes", out_size - 1);
        return AR_STATUS_INVALID_ARGUMENT;
    }
    return AR_STATUS_OK;
}

/* ---- reading a table ---------------------------------------------------------------------- */

static bool valid_name(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n >= max) return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

static bool copy_string(const struct ar__json_node *root, const char *key, char *out,
                        size_t out_size, char *err, size_t err_size)
{
    const char *s = NULL;
    if (!ar__json_as_string(ar__json_get(root, key), &s) || !*s) {
        snprintf(err, err_size, "\"%s\" must be a non-empty string", key);
        return false;
    }
    if (strlen(s) >= out_size) {
        snprintf(err, err_size, "\"%s\" is longer than %zu bytes", key, out_size - 1);
        return false;
    }
    snprintf(out, out_size, "%s", s);
    return true;
}

static bool parse_parameters(const struct ar__json_node *p, struct table *t, char *err,
                             size_t err_size)
{
    const char *dup = NULL;
    if (!p || p->type != AR__JSON_OBJECT || p->count == 0 || p->count > MAX_PARAMS) {
        snprintf(err, err_size, "\"parameters\" must be an object of 1 to %d integers", MAX_PARAMS);
        return false;
    }
    if (ar__json_has_duplicate_keys(p, &dup)) {
        snprintf(err, err_size, "parameter \"%s\" is given twice", dup);
        return false;
    }
    for (size_t i = 0; i < p->count; i++) {
        int64_t v = 0;
        if (!valid_name(p->keys[i], sizeof t->names[0])) {
            snprintf(err, err_size, "parameter name \"%.40s\" is not an identifier", p->keys[i]);
            return false;
        }
        /* CLBlast takes size_t; every real parameter is a small count or a 0/1 flag, and a
         * negative or huge value is a typo that would only fail later, inside a kernel build. */
        if (!ar__json_as_int(p->items[i], &v) || v < 0 || v > (1 << 24)) {
            snprintf(err, err_size, "parameter \"%s\" must be an integer in [0, 16777216]",
                     p->keys[i]);
            return false;
        }
        snprintf(t->names[i], sizeof t->names[i], "%s", p->keys[i]);
        t->values[i] = (size_t)v;
    }
    t->count = p->count;
    return true;
}

static bool parse_table(const char *text, size_t len, struct table *t, char *err, size_t err_size)
{
    char jerr[256] = "";
    struct ar__json_doc *doc = ar__json_parse(text, len, jerr, sizeof jerr);
    if (!doc) {
        snprintf(err, err_size, "not JSON: %s", jerr);
        return false;
    }
    const struct ar__json_node *root = ar__json_root(doc);
    int64_t precision = 0;
    const char *note = NULL;
    bool ok = false;
    if (!root || root->type != AR__JSON_OBJECT)
        snprintf(err, err_size, "the top level must be an object");
    else if (ar__json_get(root, "note") && !ar__json_as_string(ar__json_get(root, "note"), &note))
        snprintf(err, err_size, "\"note\" must be a string");
    else if (!copy_string(root, "device_name", t->device, sizeof t->device, err, err_size) ||
             !copy_string(root, "kernel", t->kernel, sizeof t->kernel, err, err_size))
        ;
    else if (!valid_name(t->kernel, sizeof t->kernel))
        snprintf(err, err_size, "\"kernel\" \"%s\" is not a CLBlast kernel name", t->kernel);
    else if (!ar__json_as_int(ar__json_get(root, "precision"), &precision) ||
             !(precision == 16 || precision == 32 || precision == 64 || precision == 3232 ||
               precision == 6464))
        snprintf(err, err_size, "\"precision\" must be 16, 32, 64, 3232 or 6464 (CLBlast's)");
    else
        ok = parse_parameters(ar__json_get(root, "parameters"), t, err, err_size);
    t->precision = (int)precision;
    ar__json_free(doc);
    return ok;
}

enum ar_status ar_tuning_table_check(const char *text, size_t len, char *err, size_t err_size)
{
    struct table *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, err_size, "out of memory");
        return AR_STATUS_OUT_OF_MEMORY;
    }
    bool ok = parse_table(text, len, t, err, err_size);
    free(t);
    return ok ? AR_STATUS_OK : AR_STATUS_BAD_FORMAT;
}

/* ---- matching ----------------------------------------------------------------------------- */

/* Splits a PoCL CPU device name "DRIVER-TARGET-MODEL" (PoCL 3: "pthread-haswell-AMD EPYC",
 * "pthread-skylake-avx512-Intel(R) Xeon(R) …") after the driver prefix: TARGET is an LLVM CPU
 * name, lowercase letters, digits and '-', so MODEL starts at the first '-' that is followed by
 * anything else. Returns false for names that do not look like that (GPUs, other drivers). */
static bool pocl_cpu_split(const char *name, size_t *driver_len, const char **target,
                           const char **model)
{
    static const char *const drivers[] = {"cpu-minimal-", "pthread-", "basic-", "cpu-"};
    for (size_t d = 0; d < sizeof drivers / sizeof drivers[0]; d++) {
        size_t n = strlen(drivers[d]);
        if (strncmp(name, drivers[d], n) != 0) continue;
        for (const char *p = name + n + 1; *p; p++) {
            if (p[-1] != '-') continue;
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')) {
                *driver_len = n;
                *target = name + n;
                *model = p;
                return p - 1 > name + n; /* a non-empty target */
            }
        }
        return false;
    }
    return false;
}

static enum match match_device(const char *device, const char *table_device)
{
    if (strcmp(device, table_device) == 0) return MATCH_EXACT;
    size_t dl_a, dl_b;
    const char *target_a, *target_b, *model_a, *model_b;
    if (pocl_cpu_split(device, &dl_a, &target_a, &model_a) &&
        pocl_cpu_split(table_device, &dl_b, &target_b, &model_b) && dl_a == dl_b &&
        strncmp(device, table_device, dl_a) == 0 && strcmp(model_a, model_b) == 0)
        return MATCH_SIBLING;
    return MATCH_NONE;
}

/* ---- collecting the candidates -------------------------------------------------------------- */

struct candidates {
    struct table *items;
    size_t count, cap;
};

static void add_candidate(struct ar_ctx *ctx, struct candidates *c, const char *source,
                          const char *text, size_t len)
{
    if (c->count == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        struct table *items = realloc(c->items, cap * sizeof *items);
        if (!items) {
            ar__log(ctx, AR_LOG_WARN, "CLBlast table %s skipped: out of memory", source);
            return;
        }
        c->items = items, c->cap = cap;
    }
    struct table *t = &c->items[c->count];
    char err[512] = "";
    memset(t, 0, sizeof *t);
    snprintf(t->source, sizeof t->source, "%s", source);
    if (!parse_table(text, len, t, err, sizeof err)) {
        ar__log(ctx, AR_LOG_WARN, "CLBlast table %s ignored: %s; %s keeps CLBlast's defaults",
                source, err, ctx->info.name);
        return;
    }
    c->count++;
}

/* The whole file, NUL-terminated; NULL when it cannot be read (or is over 1 MiB: a table is a
 * few hundred bytes, so anything that large is not one). */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n <= (1L << 20) &&
        fseek(f, 0, SEEK_SET) == 0 && (text = malloc((size_t)n + 1)) != NULL) {
        if (fread(text, 1, (size_t)n, f) == (size_t)n) {
            text[n] = '\0';
            *len = (size_t)n;
        } else {
            free(text);
            text = NULL;
        }
    }
    fclose(f);
    return text;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_table_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".json") == 0;
}

/* Every *.json in the user folder, in byte order of names (hidden files are `tune`'s
 * half-written temporaries). A missing folder is the normal case, not a warning. */
static void add_user_tables(struct ar_ctx *ctx, struct candidates *c)
{
    char dir[1024], err[256];
    if (ar_tuning_user_dir(ctx->tuning_dir, dir, sizeof dir, err, sizeof err) != AR_STATUS_OK)
        return;
    DIR *d = opendir(dir);
    if (!d) return;
    char *names[MAX_USER_TABLES];
    size_t count = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (!is_table_name(e->d_name)) continue;
        if (count == MAX_USER_TABLES) {
            ar__log(ctx, AR_LOG_WARN, "more than %d tables in %s: only the first are read",
                    MAX_USER_TABLES, dir);
            break;
        }
        size_t n = strlen(dir) + strlen(e->d_name) + 2;
        if ((names[count] = malloc(n)) != NULL)
            snprintf(names[count++], n, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    qsort(names, count, sizeof names[0], compare_names);
    for (size_t i = 0; i < count; i++) {
        size_t len = 0;
        char *text = read_file(names[i], &len);
        if (text)
            add_candidate(ctx, c, names[i], text, len);
        else
            ar__log(ctx, AR_LOG_WARN, "CLBlast table %s ignored: unreadable or over 1 MiB",
                    names[i]);
        free(text);
        free(names[i]);
    }
}

static void add_embedded_tables(struct ar_ctx *ctx, struct candidates *c)
{
    for (size_t i = 0; i < ar__data_files_count; i++) {
        char source[256];
        snprintf(source, sizeof source, "data/clblast/%s", ar__data_files[i].name);
        add_candidate(ctx, c, source, (const char *)ar__data_files[i].data, ar__data_files[i].size);
    }
}

/* ---- applying ----------------------------------------------------------------------------- */

/* Candidate i is applied when it matches and no other candidate for the same (kernel,
 * precision) matches better, or as well but earlier in the list (user tables come first). */
static bool is_best(const struct candidates *c, const enum match *level, size_t i)
{
    if (level[i] == MATCH_NONE) return false;
    for (size_t j = 0; j < c->count; j++) {
        const struct table *a = &c->items[i], *b = &c->items[j];
        if (j == i || strcmp(a->kernel, b->kernel) != 0 || a->precision != b->precision) continue;
        if (level[j] > level[i] || (level[j] == level[i] && j < i)) return false;
    }
    return true;
}

static void append_source(char *out, size_t size, const struct table *t, enum match level)
{
    size_t n = strlen(out);
    if (level == MATCH_EXACT)
        snprintf(out + n, size - n, "%s%s", n ? ", " : "", t->source);
    else
        snprintf(out + n, size - n, "%s%s (nearest: tuned on %s)", n ? ", " : "", t->source,
                 t->device);
}

/* adarank's own table kind: how ar_gemm blocks large products on this device (blas.c). Both
 * parameters are required; N_BLOCK 0 turns blocking off. */
static bool apply_blocking(struct ar_ctx *ctx, const struct table *t)
{
    size_t values[2];
    const char *const want[2] = {"N_BLOCK", "MIN_NK"};
    for (int w = 0; w < 2; w++) {
        size_t i = 0;
        while (i < t->count && strcmp(t->names[i], want[w]) != 0)
            i++;
        if (i == t->count || t->count != 2) {
            ar__log(ctx, AR_LOG_WARN,
                    "table %s ignored: a GemmBlocking table has exactly the parameters N_BLOCK "
                    "and MIN_NK; %s keeps unblocked products",
                    t->source, ctx->info.name);
            return false;
        }
        values[w] = t->values[i];
    }
    ar_gemm_set_blocking(ctx, values[0], values[1]);
    return true;
}

static bool apply_table(struct ar_ctx *ctx, const struct table *t, enum match level)
{
    if (strcmp(t->kernel, AR__GEMM_BLOCKING_TABLE) == 0) {
        if (t->precision != 32) {
            ar__log(ctx, AR_LOG_WARN, "table %s ignored: ar_gemm blocks float32 products only "
                    "(precision 32)", t->source);
            return false;
        }
        if (!apply_blocking(ctx, t)) return false;
        ar__log(ctx, AR_LOG_INFO, "ar_gemm blocking for %s from %s%s: column blocks of %zu when "
                "n*k >= %zu", ctx->info.name, t->source, level == MATCH_EXACT ? "" : " (nearest)",
                ctx->gemm_n_block, ctx->gemm_block_min_nk);
        return true;
    }
    /* Pointers into t are made here, not when parsing: the candidate array is realloc'ed as
     * tables are added, so pointers kept in a table would dangle once it moves. */
    const char *names[MAX_PARAMS];
    for (size_t i = 0; i < t->count; i++)
        names[i] = t->names[i];
    CLBlastStatusCode rc = CLBlastOverrideParameters(
        ctx->device, t->kernel, (CLBlastPrecision)t->precision, t->count, names, t->values);
    if (rc != CLBlastSuccess) {
        ar__log(ctx, AR_LOG_WARN,
                "CLBlast rejected table %s for %s (CLBlastOverrideParameters status %d: %s); "
                "%s keeps CLBlast's defaults",
                t->source, t->kernel, (int)rc,
                rc == CLBlastMissingOverrideParameter ? "a parameter is missing"
                : rc == CLBlastInvalidOverrideKernel  ? "unknown kernel"
                                                      : "see clblast_c.h",
                ctx->info.name);
        return false;
    }
    if (level == MATCH_EXACT)
        ar__log(ctx, AR_LOG_INFO, "CLBlast %s parameters for %s from %s", t->kernel, ctx->info.name,
                t->source);
    else
        ar__log(ctx, AR_LOG_INFO,
                "no CLBlast %s table for %s; using the nearest, %s, tuned on %s (run "
                "`adarank-cl tune` for an exact one)",
                t->kernel, ctx->info.name, t->source, t->device);
    return true;
}

enum ar_status ar__tuning_apply(struct ar_ctx *ctx)
{
    struct candidates c = {0};
    add_user_tables(ctx, &c);
    add_embedded_tables(ctx, &c);
    enum match *level = calloc(c.count ? c.count : 1, sizeof *level);
    char applied[2048] = "";
    if (!level) {
        free(c.items);
        ar__log(ctx, AR_LOG_WARN, "CLBlast tables skipped: out of memory");
        return AR_STATUS_OK;
    }
    for (size_t i = 0; i < c.count; i++)
        level[i] = match_device(ctx->info.name, c.items[i].device);
    /* A best table that CLBlast rejects drops out, and the next round tries the runner-up. */
    for (bool retry = true; retry;) {
        retry = false;
        for (size_t i = 0; i < c.count; i++) {
            if (level[i] == MATCH_NONE || c.items[i].applied || !is_best(&c, level, i)) continue;
            if (apply_table(ctx, &c.items[i], level[i])) {
                c.items[i].applied = true;
                append_source(applied, sizeof applied, &c.items[i], level[i]);
            } else {
                level[i] = MATCH_NONE;
                retry = true;
            }
        }
    }
    free(ctx->tuning_source);
    ctx->tuning_source = NULL;
    if (applied[0] && (ctx->tuning_source = malloc(strlen(applied) + 1)) != NULL)
        memcpy(ctx->tuning_source, applied, strlen(applied) + 1);
    free(level);
    free(c.items);
    return AR_STATUS_OK;
}

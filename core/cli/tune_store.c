/* `adarank-cl tune`, second half: turning a tuner's phase files into a checked adarank table.
 *
 * A tuner validates each configuration on one square product only; before a table is stored it
 * is applied in a context of its own and checked against host products of other shapes and
 * transposes (verify_table), and the ranking is walked down until one passes. Tables are
 * written atomically (temporary file, fsync, rename), so a context never reads half a table. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tune_store.h"

/* "pthread-haswell-AMD EPYC" -> "pthread-haswell-amd-epyc": a file name on any system. */
static void slug(const char *name, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = name; *p && n + 1 < size; p++) {
        char c = *p;
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
        if (alnum)
            out[n++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        else if (n > 0 && out[n - 1] != '-')
            out[n++] = '-';
    }
    while (n > 0 && out[n - 1] == '-')
        n--;
    out[n] = '\0';
}

static void lower(const char *s, char *out, size_t size)
{
    size_t n = 0;
    for (; *s && n + 1 < size; s++)
        out[n++] = (char)(*s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s);
    out[n] = '\0';
}

static bool mkdirs(const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) return false;
            *p = '/';
        }
    return mkdir(buf, 0755) == 0 || errno == EEXIST;
}

static bool write_atomically(const char *path, const char *dir, const char *name, const char *text)
{
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s/.%s.%ld.tmp", dir, name, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return false;
    bool ok = fputs(text, f) >= 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (ok && rename(tmp, path) == 0) return true;
    unlink(tmp);
    return false;
}

/* The phase files one tuner wrote into dir: clblast_<key>_<phase>_<precision>.json (the digit
 * after the key keeps "xgemm" from taking xgemm_direct's files). Sorted, at most max. */
static size_t collect_outputs(const char *dir, const char *key, char paths[][1200], size_t max)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "clblast_%s_", key);
    size_t n = 0, plen = strlen(prefix);
    DIR *d = opendir(dir);
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d)) != NULL && n < max;) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, prefix, plen) == 0 && e->d_name[plen] >= '0' &&
            e->d_name[plen] <= '9' && len > 5 && !strcmp(e->d_name + len - 5, ".json"))
            snprintf(paths[n++], 1200, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    qsort(paths, n, sizeof paths[0], (int (*)(const void *, const void *))strcmp);
    return n;
}

#define MAX_RANK 20 /* configurations tried before giving up on a tuner's results */

/* Products in the shapes and transposes the engine uses, awkward sizes included; false (with
 * the reason in why) when one differs from a double-precision host product by more than 1e-3 of
 * its scale (float32 rounding over k <= 130 terms in [-1, 1) stays below 1e-5). */
static bool check_products(struct ar_ctx *ctx, char *why, size_t why_size)
{
    static const size_t sizes[][3] = {{67, 45, 129}, {128, 8, 96}, {200, 130, 64}, {8, 96, 128}};
    float *a = malloc(200 * 130 * sizeof *a), *b = malloc(200 * 130 * sizeof *b);
    float *c = malloc(200 * 130 * sizeof *c);
    struct ar_mem da = {0}, db = {0}, dc = {0};
    bool ok = a && b && c && ar_mem_alloc(ctx, 200 * 130, &da) == AR_STATUS_OK &&
              ar_mem_alloc(ctx, 200 * 130, &db) == AR_STATUS_OK &&
              ar_mem_alloc(ctx, 200 * 130, &dc) == AR_STATUS_OK;
    snprintf(why, why_size, "out of memory");
    for (size_t i = 0; ok && i < 200 * 130; i++) {
        a[i] = (float)((i * 7919) % 2001) / 1000.0f - 1.0f;
        b[i] = (float)((i * 104729) % 1999) / 1000.0f - 1.0f;
    }
    ok = ok && ar_mem_write(ctx, da, a, 200 * 130) == AR_STATUS_OK &&
         ar_mem_write(ctx, db, b, 200 * 130) == AR_STATUS_OK;
    for (size_t s = 0; ok && s < sizeof sizes / sizeof sizes[0] * 3; s++) {
        size_t m = sizes[s / 3][0], n = sizes[s / 3][1], k = sizes[s / 3][2];
        bool ta = s % 3 == 2, tb = s % 3 == 1; /* NN, NT, TN */
        enum ar_status st =
            ar_gemm(ctx, ta, tb, m, n, k, 1.0f, da, ta ? m : k, db, tb ? k : n, 0.0f, dc, n);
        if (st == AR_STATUS_OK) st = ar_mem_read(ctx, dc, c, m * n);
        if (st != AR_STATUS_OK) {
            snprintf(why, why_size, "%s", ar_ctx_errmsg(ctx));
            ok = false;
            break;
        }
        double diff = 0, scale = 0;
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                double ref = 0;
                for (size_t l = 0; l < k; l++)
                    ref += (double)(ta ? a[l * m + i] : a[i * k + l]) *
                           (tb ? b[j * k + l] : b[l * n + j]);
                diff = fmax(diff, fabs(ref - c[i * n + j]));
                scale = fmax(scale, fabs(ref));
            }
        if (!(diff <= 1e-3 * scale)) {
            snprintf(why, why_size, "wrong %s%s product %zux%zux%zu (max error %.3g of %.3g)",
                     ta ? "T" : "N", tb ? "T" : "N", m, n, k, diff, scale);
            ok = false;
        }
    }
    ar_mem_release(&da), ar_mem_release(&db), ar_mem_release(&dc);
    free(a), free(b), free(c);
    return ok;
}

/* Applies a candidate table in a context of its own and checks products with it. For Xgemm and
 * XgemmDirect a GemmRoutine table routes every product to that kernel (XGEMM_MIN_INDIRECT_SIZE
 * 0: all indirect, 4096: all direct). CLBlast keeps overrides per process: the next context
 * (show_pickup) applies the stored tables again. */
static bool verify_table(const struct ar_device_info *dev, const char *kernel, const char *json,
                         char *why, size_t why_size)
{
    bool xgemm = !strcmp(kernel, "Xgemm"), direct = !strcmp(kernel, "XgemmDirect");
    if (!xgemm && !direct) return true; /* products do not exercise other kernels directly */
    const char *tmp_root = getenv("TMPDIR");
    char dir[1024], path[1200], route[512], sel[16];
    snprintf(dir, sizeof dir, "%s/adarank-verify-XXXXXX",
             tmp_root && *tmp_root ? tmp_root : "/tmp");
    if (!mkdtemp(dir)) {
        snprintf(why, why_size, "cannot make a temporary folder: %s", strerror(errno));
        return false;
    }
    snprintf(path, sizeof path, "%s/candidate.json", dir);
    bool ok = write_atomically(path, dir, "candidate.json", json);
    snprintf(route, sizeof route,
             "{\"device_name\": \"%s\", \"kernel\": \"GemmRoutine\", \"precision\": 32, "
             "\"parameters\": {\"XGEMM_MIN_INDIRECT_SIZE\": %d}}\n",
             dev->name, xgemm ? 0 : 4096);
    snprintf(path, sizeof path, "%s/route.json", dir);
    ok = ok && write_atomically(path, dir, "route.json", route);
    snprintf(sel, sizeof sel, "%d", dev->index);
    struct ar_ctx_params params = ar_ctx_default_params();
    params.device = sel;
    params.tuning_dir = dir;
    struct ar_ctx *ctx = NULL;
    snprintf(why, why_size, "cannot write it to %.900s", dir);
    if (ok && ar_ctx_new(&params, &ctx) != AR_STATUS_OK) {
        snprintf(why, why_size, "%s", ar_ctx_errmsg(ctx));
        ok = false;
    } else if (ok) {
        const char *src = ar_ctx_tuning_source(ctx);
        ok = src && strstr(src, "candidate.json") && strstr(src, "route.json");
        if (!ok)
            snprintf(why, why_size, "CLBlast did not accept it (applied: %s)", src ? src : "none");
        ok = ok && check_products(ctx, why, why_size);
    }
    ar_ctx_free(ctx);
    tune_remove_folder(dir);
    return ok;
}

/* Removes the files of a flat temporary folder, then the folder. */
void tune_remove_folder(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    char path[1400];
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
    rmdir(dir);
}

/* Converts one tuner's phase files into a table and stores it; prints where. */
int tune_store_table(const char *binary, const char *key, bool imported, const char *from_dir,
                     const struct ar_device_info *dev, const char *out_dir)
{
    char paths[16][1200], err[1024] = "", kernel[64] = "", note[512];
    size_t n = collect_outputs(from_dir, key, paths, 16);
    if (n == 0) {
        fprintf(stderr,
                "adarank-cl tune: %s wrote no clblast_%s_*.json into %s (did every "
                "configuration fail? see tuner.log there)\n",
                binary, key, from_dir);
        return imported ? CLI_EXIT_BAD_INPUT : CLI_EXIT_DEVICE;
    }
    const char *list[16];
    for (size_t i = 0; i < n; i++)
        list[i] = paths[i];
    if (imported)
        snprintf(note, sizeof note,
                 "Converted by `adarank-cl tune --import` from the output of %s "
                 "(CLBlast's tuner).",
                 binary);
    else
        snprintf(note, sizeof note,
                 "Found by `adarank-cl tune` with %s (CLBlast's tuner) on %s "
                 "/ %s.",
                 binary, dev->platform_name, dev->name);
    /* The fastest configuration that computes correct products; a tuner checks its candidates
     * on one square size only, and some (GEMMK=1 ones on PoCL) fail on others. */
    char *json = NULL;
    for (size_t rank = 0;; rank++) {
        enum ar_status st = ar_tuning_table_from_tuner(list, n, rank, note, &json, kernel,
                                                       sizeof kernel, err, sizeof err);
        if (st == AR_STATUS_NOT_FOUND && rank > 0) {
            fprintf(stderr,
                    "adarank-cl tune: none of the %s configurations computes correct "
                    "products on %s; nothing stored\n",
                    binary, dev->name);
            return CLI_EXIT_DEVICE;
        }
        if (st != AR_STATUS_OK) {
            fprintf(stderr, "adarank-cl tune: converting %s's results: %s\n", binary, err);
            return cli_exit_for_status(st);
        }
        if (verify_table(dev, kernel, json, err, sizeof err)) break;
        printf("  configuration #%zu by speed rejected: %s; trying the next\n", rank + 1, err);
        free(json);
        json = NULL;
        if (rank + 1 == MAX_RANK) {
            fprintf(stderr,
                    "adarank-cl tune: the %d fastest %s configurations all fail on %s; "
                    "nothing stored\n",
                    MAX_RANK, binary, dev->name);
            return CLI_EXIT_DEVICE;
        }
    }
    char name[512], lk[64], dslug[256], path[1200];
    slug(dev->name, dslug, sizeof dslug);
    lower(kernel, lk, sizeof lk);
    snprintf(name, sizeof name, "%s-%s.json", dslug, lk);
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    bool ok = mkdirs(out_dir) && write_atomically(path, out_dir, name, json);
    free(json);
    if (!ok) {
        fprintf(stderr, "adarank-cl tune: cannot write %s: %s\n", path, strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    printf("  stored %s (%s, best of %zu phase file(s))\n", path, kernel, n);
    return CLI_EXIT_OK;
}

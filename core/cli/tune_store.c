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

#include "../atomic_file.h"
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

/* text as path, durably (atomic_file.h); errno says why on failure */
static bool write_atomically(const char *path, const char *text)
{
    return ar__atomic_write(path, text, strlen(text), NULL, 0) == AR_STATUS_OK;
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

/* The library's product self-check (core/blas_check.c), its message into why. */
static bool check_products(struct ar_ctx *ctx, char *why, size_t why_size)
{
    if (ar_gemm_self_check(ctx) == AR_STATUS_OK) return true;
    snprintf(why, why_size, "%s", ar_ctx_errmsg(ctx));
    return false;
}

/* Applies a candidate table in a context of its own and checks products with it. For Xgemm and
 * XgemmDirect a GemmRoutine table routes every product to that kernel (XGEMM_MIN_INDIRECT_SIZE
 * 0: all indirect, 4096: all direct); the operand helpers (Copy, Pad, Transpose, Padtranspose)
 * only run around Xgemm, so they are checked with the device's own routing and Xgemm tables
 * (forcing every product onto Xgemm would also test a shipped Xgemm table on the tiny products
 * its routing keeps away from it). CLBlast keeps overrides per process: the next context
 * (show_pickup) applies the stored tables again. */
static bool verify_table(const struct ar_device_info *dev, const char *kernel, const char *json,
                         char *why, size_t why_size)
{
    bool direct = !strcmp(kernel, "XgemmDirect"), xgemm = !strcmp(kernel, "Xgemm");
    const char *tmp_root = getenv("TMPDIR");
    char dir[1024], path[1200], route[512];
    snprintf(dir, sizeof dir, "%s/adarank-verify-XXXXXX",
             tmp_root && *tmp_root ? tmp_root : "/tmp");
    if (!mkdtemp(dir)) {
        snprintf(why, why_size, "cannot make a temporary folder: %s", strerror(errno));
        return false;
    }
    snprintf(path, sizeof path, "%s/candidate.json", dir);
    bool ok = write_atomically(path, json);
    snprintf(route, sizeof route,
             "{\"device_name\": \"%s\", \"kernel\": \"GemmRoutine\", \"precision\": 32, "
             "\"parameters\": {\"XGEMM_MIN_INDIRECT_SIZE\": %d}}\n",
             dev->name, xgemm ? 0 : 4096);
    snprintf(path, sizeof path, "%s/route.json", dir);
    ok = ok && (!(xgemm || direct) || write_atomically(path, route));
    struct ar_ctx *ctx = NULL;
    snprintf(why, why_size, "cannot write it to %.900s", dir);
    if (ok && cli_ctx_on_device(dev, dir, &ctx) != AR_STATUS_OK) {
        snprintf(why, why_size, "%s", ar_ctx_errmsg(ctx));
        ok = false;
    } else if (ok) {
        const char *src = ar_ctx_tuning_source(ctx);
        ok = src && strstr(src, "candidate.json") &&
             (!(xgemm || direct) || strstr(src, "route.json"));
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
    char what[96];
    snprintf(what, sizeof what, "best of %zu phase file(s)", n);
    int rc = tune_write_table(dev, kernel, json, out_dir, what);
    free(json);
    return rc;
}

int tune_write_table(const struct ar_device_info *dev, const char *kernel, const char *json,
                     const char *out_dir, const char *what)
{
    char name[512], lk[64], dslug[256], path[1200];
    slug(dev->name, dslug, sizeof dslug);
    lower(kernel, lk, sizeof lk);
    snprintf(name, sizeof name, "%s-%s.json", dslug, lk);
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    if (!mkdirs(out_dir) || !write_atomically(path, json)) {
        fprintf(stderr, "adarank-cl tune: cannot write %s: %s\n", path, strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    printf("  stored %s (%s, %s)\n", path, kernel, what);
    return CLI_EXIT_OK;
}

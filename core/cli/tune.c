/* `adarank-cl tune`: runs CLBlast's own tuners (Debian package clblast-utils) for one device and
 * stores the fastest parameters as adarank tables in the tuning folder, where every later context
 * on that device applies them (the format and the matching rule: include/adarank/tuning.h).
 *
 * Each tuner runs in a fresh temporary folder because it writes its clblast_*.json results into
 * the current directory; ours are then converted with ar_tuning_table_from_tuner and written
 * atomically (temporary file, fsync, rename), so a context never reads half a table.
 *
 * A tuner validates each configuration on one square product; before a table is stored it is
 * applied in a context of its own and checked against host products of other shapes and
 * transposes (verify_table), and the ranking is walked down until one passes. On this PoCL the
 * Xgemm tuner's fastest was a GEMMK=1 configuration that returns inf on 67x45x129. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

struct tuner {
    const char *key;    /* --kernels name, and the tuner's kernel family prefix */
    const char *binary; /* in clblast-utils */
    const char *what;
};

static const struct tuner tuners[] = {
    {"xgemm", "clblast_tuner_xgemm", "Xgemm: the tiled kernel CLBlast uses for large products"},
    {"xgemm_direct", "clblast_tuner_xgemm_direct",
     "XgemmDirect: the kernel for small products (rank-r LoRA factors)"},
};
#define TUNER_COUNT (sizeof tuners / sizeof tuners[0])

struct options {
    const char *device, *kernels, *out_dir, *tuner_dir, *import_dir;
    double fraction;
    long size, runs;
    bool dry_run, verbose;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: adarank-cl tune [options]\n\n"
            "Runs CLBlast's tuners on one device and stores the fastest parameters where every\n"
            "later run on that device picks them up (see `adarank-cl bench gemm`). Each table\n"
            "is first checked on NN/NT/TN products of awkward sizes; a configuration that\n"
            "computes wrong results gives way to the next fastest.\n\n"
            "  --device N|NAME   device index or name substring (default: $ADARANK_DEVICE, the\n"
            "                    first GPU, else the first device)\n"
            "  --kernels LIST    comma-separated: xgemm, xgemm_direct (default: both)\n"
            "  --fraction F      share of every search phase to measure, 0 < F <= 1 (default:\n"
            "                    CLBlast's, all of the fixed set and 1/512 of the random set;\n"
            "                    20-60 minutes per kernel on an idle 2-core CPU device)\n"
            "  --size N          tune for N x N x N products (default: the tuner's own, 1024 for\n"
            "                    xgemm, 256 for xgemm_direct)\n"
            "  --runs N          timed runs per configuration (default 2)\n"
            "  --out DIR         store tables here (default: $ADARANK_TUNING_DIR, else\n"
            "                    $XDG_CACHE_HOME/adarank-cl/clblast, else\n"
            "                    ~/.cache/adarank-cl/clblast)\n"
            "  --import DIR      do not run tuners: convert the clblast_*.json files they wrote\n"
            "                    earlier into DIR\n"
            "  --tuner-dir DIR   look for the clblast_tuner_* programs here instead of in PATH\n"
            "  --dry-run         check the tuners and print what would run and be written\n"
            "  --verbose         show the tuners' own output\n\n"
            "Needs Debian's clblast-utils (apt-get install clblast-utils); without it the exit\n"
            "code is 4, like other OpenCL/CLBlast environment failures.\n");
}

static bool parse_number(const char *opt, const char *text, double lo, double hi, double *out)
{
    char *end = NULL;
    double v = text ? strtod(text, &end) : 0;
    if (!text || end == text || *end || !(v > lo && v <= hi)) {
        fprintf(stderr, "adarank-cl tune: %s needs a number in (%g, %g], got \"%s\"\n", opt, lo, hi,
                text ? text : "");
        return false;
    }
    *out = v;
    return true;
}

static int parse_options(int argc, char **argv, struct options *o)
{
    *o = (struct options){.kernels = "xgemm,xgemm_direct", .runs = 2};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double num = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(a, "--dry-run")) {
            o->dry_run = true;
        } else if (!strcmp(a, "--verbose")) {
            o->verbose = true;
        } else if (!v) {
            fprintf(stderr, "adarank-cl tune: unknown option or missing value: \"%s\"\n", a);
            return CLI_EXIT_USAGE;
        } else if (!strcmp(a, "--device")) {
            o->device = argv[++i];
        } else if (!strcmp(a, "--kernels")) {
            o->kernels = argv[++i];
        } else if (!strcmp(a, "--out")) {
            o->out_dir = argv[++i];
        } else if (!strcmp(a, "--import")) {
            o->import_dir = argv[++i];
        } else if (!strcmp(a, "--tuner-dir")) {
            o->tuner_dir = argv[++i];
        } else if (!strcmp(a, "--fraction")) {
            if (!parse_number(a, argv[++i], 0, 1, &o->fraction)) return CLI_EXIT_USAGE;
        } else if (!strcmp(a, "--size") || !strcmp(a, "--runs")) {
            if (!parse_number(a, argv[++i], 0, 16384, &num) || num != (long)num)
                return CLI_EXIT_USAGE;
            *(!strcmp(a, "--size") ? &o->size : &o->runs) = (long)num;
        } else {
            fprintf(stderr, "adarank-cl tune: unknown option \"%s\" (try --help)\n", a);
            return CLI_EXIT_USAGE;
        }
    }
    return CLI_EXIT_OK;
}

/* Which tuners --kernels names; false (after a message) for an unknown name. */
static bool select_tuners(const char *list, bool chosen[TUNER_COUNT])
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    memset(chosen, 0, TUNER_COUNT * sizeof chosen[0]);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        size_t i = 0;
        while (i < TUNER_COUNT && strcmp(t, tuners[i].key) != 0)
            i++;
        if (i == TUNER_COUNT) {
            fprintf(stderr, "adarank-cl tune: unknown kernel \"%s\" (xgemm, xgemm_direct)\n", t);
            return false;
        }
        chosen[i] = true;
    }
    for (size_t i = 0; i < TUNER_COUNT; i++)
        if (chosen[i]) return true;
    fprintf(stderr, "adarank-cl tune: --kernels names no kernel (xgemm, xgemm_direct)\n");
    return false;
}

/* The tuner's path in --tuner-dir or PATH, or false. */
static bool find_binary(const char *name, const char *tuner_dir, char *out, size_t size)
{
    const char *path = tuner_dir ? tuner_dir : getenv("PATH");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path ? path : "/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, size, "%s/%s", *d ? d : ".", name);
        if (access(out, X_OK) == 0) return true;
        if (tuner_dir) break;
    }
    return false;
}

/* Device numbers as the tuners count them: platform, then the device within that platform. */
static int pick_device(const struct options *o, struct ar_device_info *picked, int *tuner_dev)
{
    char err[1024] = "";
    struct ar_device_info *list = NULL;
    int count = 0;
    enum ar_status st = ar_device_list(&list, &count, err, sizeof err);
    if (st != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl tune: %s\n", err);
        return cli_exit_for_status(st);
    }
    int pick = ar_device_select(list, count, o->device ? o->device : getenv("ADARANK_DEVICE"), err,
                                sizeof err);
    if (pick < 0) {
        fprintf(stderr, "adarank-cl tune: %s\n", err);
        free(list);
        return CLI_EXIT_DEVICE;
    }
    *picked = list[pick];
    *tuner_dev = 0;
    for (int i = 0; i < pick; i++)
        *tuner_dev += list[i].platform_index == picked->platform_index;
    free(list);
    return CLI_EXIT_OK;
}

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

/* Runs one tuner in `dir` with its output in dir/tuner.log (or on our terminal with --verbose).
 * Returns the exit code for the CLI: OK, DEVICE when the tuner failed, INTERRUPTED on SIGINT. */
static int run_tuner(char *const argv[], const char *dir, bool verbose)
{
    char log_path[1200];
    snprintf(log_path, sizeof log_path, "%s/tuner.log", dir);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "adarank-cl tune: fork: %s\n", strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    if (pid == 0) {
        if (chdir(dir) != 0) _exit(127);
        if (!verbose && (!freopen(log_path, "w", stdout) || dup2(fileno(stdout), 2) < 0))
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    /* Ctrl-C reaches the tuner (same process group); we wait for it and report. */
    void (*old_int)(int) = signal(SIGINT, SIG_IGN);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    signal(SIGINT, old_int);
    if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGINT || WTERMSIG(status) == SIGTERM))
        return CLI_EXIT_INTERRUPTED;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "adarank-cl tune: %s failed (%s %d); its output is in %s\n", argv[0],
                WIFEXITED(status) ? "exit status" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), log_path);
        return CLI_EXIT_DEVICE;
    }
    return CLI_EXIT_OK;
}

#define MAX_RANK 20 /* configurations tried before giving up on a tuner's results */

static void remove_folder(const char *dir);

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
    remove_folder(dir);
    return ok;
}

/* Removes the files of a flat temporary folder, then the folder. */
static void remove_folder(const char *dir)
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
static int store_table(const struct options *o, const struct tuner *t, const char *from_dir,
                       const struct ar_device_info *dev, const char *out_dir)
{
    char paths[16][1200], err[1024] = "", kernel[64] = "", note[512];
    size_t n = collect_outputs(from_dir, t->key, paths, 16);
    if (n == 0) {
        fprintf(stderr,
                "adarank-cl tune: %s wrote no clblast_%s_*.json into %s (did every "
                "configuration fail? see tuner.log there)\n",
                t->binary, t->key, from_dir);
        return o->import_dir ? CLI_EXIT_BAD_INPUT : CLI_EXIT_DEVICE;
    }
    const char *list[16];
    for (size_t i = 0; i < n; i++)
        list[i] = paths[i];
    if (o->import_dir)
        snprintf(note, sizeof note,
                 "Converted by `adarank-cl tune --import` from the output of %s "
                 "(CLBlast's tuner).",
                 t->binary);
    else
        snprintf(note, sizeof note,
                 "Found by `adarank-cl tune` with %s (CLBlast's tuner) on %s "
                 "/ %s.",
                 t->binary, dev->platform_name, dev->name);
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
                    t->binary, dev->name);
            return CLI_EXIT_DEVICE;
        }
        if (st != AR_STATUS_OK) {
            fprintf(stderr, "adarank-cl tune: converting %s's results: %s\n", t->binary, err);
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
                    MAX_RANK, t->binary, dev->name);
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

static int tune_one(const struct options *o, const struct tuner *t, const char *binary,
                    const struct ar_device_info *dev, int tuner_dev, const char *out_dir)
{
    char platform[16], device[16], fraction[32], size[16], runs[16];
    snprintf(platform, sizeof platform, "%d", dev->platform_index);
    snprintf(device, sizeof device, "%d", tuner_dev);
    /* CLBlast 1.5's tuners explore configurations.size() / fraction, so they take the inverse
     * of the share (-fraction 16 measures 1/16 of the space), and the same value applies to every
     * phase: the fixed phases (578 and 46 configurations for xgemm and xgemm_direct) and the
     * random ones (120800 and 8420). Without --fraction their defaults apply: 1 for the fixed
     * phases, 512 for the random ones. */
    snprintf(fraction, sizeof fraction, "%g", 1.0 / o->fraction);
    snprintf(size, sizeof size, "%ld", o->size);
    snprintf(runs, sizeof runs, "%ld", o->runs);
    char *argv[32] = {(char *)binary, "-platform", platform, "-device", device,
                      "-precision",   "32",        "-runs",  runs};
    int argc = 9;
    if (o->fraction > 0) {
        argv[argc++] = "-fraction";
        argv[argc++] = fraction;
    }
    if (o->size > 0) {
        char *extra[] = {"-m", size, "-n", size, "-k", size};
        for (size_t i = 0; i < 6; i++)
            argv[argc++] = extra[i];
    }
    printf("%s %s\n  ", o->dry_run ? "would run" : "running", t->what);
    for (int i = 0; i < argc; i++)
        printf("%s%s", i ? " " : "", argv[i]);
    printf("\n");
    if (o->dry_run) {
        printf("  in a temporary folder, then store %s/<device>-<kernel>.json\n", out_dir);
        return CLI_EXIT_OK;
    }
    const char *tmp_root = getenv("TMPDIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/adarank-tune-XXXXXX", tmp_root && *tmp_root ? tmp_root : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "adarank-cl tune: cannot make a temporary folder %s: %s\n", dir,
                strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    printf("  in %s (tuner.log there; removed on success); this takes minutes\n", dir);
    int rc = run_tuner(argv, dir, o->verbose);
    if (rc == CLI_EXIT_OK) rc = store_table(o, t, dir, dev, out_dir);
    if (rc == CLI_EXIT_OK) remove_folder(dir); /* kept on failure: its log explains */
    return rc;
}

/* Proves the tables are picked up: a new context on the device reports its tuning source. */
static void show_pickup(const struct ar_device_info *dev, const char *out_dir)
{
    char sel[16];
    snprintf(sel, sizeof sel, "%d", dev->index);
    struct ar_ctx_params params = ar_ctx_default_params();
    params.device = sel;
    params.tuning_dir = out_dir;
    struct ar_ctx *ctx = NULL;
    if (ar_ctx_new(&params, &ctx) == AR_STATUS_OK) {
        const char *src = ar_ctx_tuning_source(ctx);
        printf("a new context on %s now applies: %s\n", dev->name, src ? src : "no table");
    }
    ar_ctx_free(ctx);
}

int cli_tune(int argc, char **argv)
{
    struct options o;
    int rc = parse_options(argc, argv, &o);
    if (rc != CLI_EXIT_OK) return rc < 0 ? CLI_EXIT_OK : rc;
    bool chosen[TUNER_COUNT];
    if (!select_tuners(o.kernels, chosen)) return CLI_EXIT_USAGE;
    char out_dir[1024], err[512];
    if (ar_tuning_user_dir(o.out_dir, out_dir, sizeof out_dir, err, sizeof err) != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl tune: %s (or pass --out DIR)\n", err);
        return CLI_EXIT_USAGE;
    }
    struct ar_device_info dev;
    int tuner_dev = 0;
    if ((rc = pick_device(&o, &dev, &tuner_dev)) != CLI_EXIT_OK) return rc;
    printf("device %d: %s / %s (tuner numbering: -platform %d -device %d)\n", dev.index,
           dev.platform_name, dev.name, dev.platform_index, tuner_dev);
    char binaries[TUNER_COUNT][1200];
    for (size_t i = 0; i < TUNER_COUNT && !o.import_dir; i++)
        if (chosen[i] && !find_binary(tuners[i].binary, o.tuner_dir, binaries[i], 1200)) {
            fprintf(stderr,
                    "adarank-cl tune: %s not found in %s; it comes with Debian's "
                    "clblast-utils (apt-get install clblast-utils)\n",
                    tuners[i].binary, o.tuner_dir ? o.tuner_dir : "PATH");
            return CLI_EXIT_DEVICE;
        }
    for (size_t i = 0; i < TUNER_COUNT && rc == CLI_EXIT_OK; i++) {
        if (!chosen[i]) continue;
        if (o.import_dir && o.dry_run)
            printf("would convert %s/clblast_%s_*.json into %s\n", o.import_dir, tuners[i].key,
                   out_dir);
        else if (o.import_dir)
            rc = store_table(&o, &tuners[i], o.import_dir, &dev, out_dir);
        else
            rc = tune_one(&o, &tuners[i], binaries[i], &dev, tuner_dev, out_dir);
    }
    if (rc == CLI_EXIT_OK && !o.dry_run) show_pickup(&dev, out_dir);
    return rc;
}

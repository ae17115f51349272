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

#include "tune_store.h"

struct tuner {
    const char *key;    /* --kernels name, and the tuner's kernel family prefix */
    const char *binary; /* in clblast-utils */
    const char *what;
    bool has_k;         /* a product's tuner (-m -n -k), not a matrix copy's (-m -n) */
};

/* Before and after Xgemm, CLBlast copies, pads and transposes operands into the layout its kernel
 * wants (e.g. both operands of a row-major x.W^T); on PoCL's CPU device these helper kernels took
 * about a fifth of a 512x3072x768 product with their default parameters, so they are tuned too. */
static const struct tuner tuners[] = {
    {"xgemm", "clblast_tuner_xgemm", "Xgemm: the tiled kernel CLBlast uses for large products",
     true},
    {"xgemm_direct", "clblast_tuner_xgemm_direct",
     "XgemmDirect: the kernel for small products (rank-r LoRA factors)", true},
    {"copy", "clblast_tuner_copy_fast", "Copy: operand copies before and after Xgemm", false},
    {"pad", "clblast_tuner_copy_pad", "Pad: operand copies padded to Xgemm's tile sizes", false},
    {"transpose", "clblast_tuner_transpose_fast", "Transpose: operand transposes for Xgemm",
     false},
    {"padtranspose", "clblast_tuner_transpose_pad",
     "Padtranspose: operand transposes padded to Xgemm's tile sizes", false},
};
#define KERNEL_NAMES "xgemm, xgemm_direct, copy, pad, transpose, padtranspose, blocking"
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
            "  --kernels LIST    comma-separated: xgemm, xgemm_direct, and the operand\n"
            "                    helpers copy, pad, transpose, padtranspose (default: all;\n"
            "                    the helpers take a minute or two each); and blocking, which\n"
            "                    runs no tuner: it times adarank's column blocks of large\n"
            "                    products with the tables stored so far (tens of seconds)\n"
            "  --fraction F      share of every search phase to measure, 0 < F <= 1 (default:\n"
            "                    CLBlast's, all of the fixed set and 1/512 of the random set;\n"
            "                    20-60 minutes per kernel on an idle 2-core CPU device)\n"
            "  --size N          tune for N x N x N products, N x N matrices for the helpers\n"
            "                    (default: the tuner's own, 1024 for xgemm and the helpers,\n"
            "                    256 for xgemm_direct)\n"
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
    *o = (struct options){.kernels = "xgemm,xgemm_direct,copy,pad,transpose,padtranspose,blocking",
                          .runs = 2};
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

/* Which tuners --kernels names, and whether it names blocking; false (after a message) for an
 * unknown name. */
static bool select_tuners(const char *list, bool chosen[TUNER_COUNT], bool *blocking)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    memset(chosen, 0, TUNER_COUNT * sizeof chosen[0]);
    *blocking = false;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!strcmp(t, "blocking")) {
            *blocking = true;
            continue;
        }
        size_t i = 0;
        while (i < TUNER_COUNT && strcmp(t, tuners[i].key) != 0)
            i++;
        if (i == TUNER_COUNT) {
            fprintf(stderr, "adarank-cl tune: unknown kernel \"%s\" (" KERNEL_NAMES ")\n", t);
            return false;
        }
        chosen[i] = true;
    }
    for (size_t i = 0; i < TUNER_COUNT; i++)
        if (chosen[i]) return true;
    if (*blocking) return true;
    fprintf(stderr, "adarank-cl tune: --kernels names no kernel (" KERNEL_NAMES ")\n");
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
        for (size_t i = 0; i < (t->has_k ? 6u : 4u); i++)
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
    if (rc == CLI_EXIT_OK) rc = tune_store_table(t->binary, t->key, false, dir, dev, out_dir);
    if (rc == CLI_EXIT_OK) tune_remove_folder(dir); /* kept on failure: its log explains */
    return rc;
}

/* Proves the tables are picked up: a new context on the device reports its tuning source. */
static void show_pickup(const struct ar_device_info *dev, const char *out_dir)
{
    struct ar_ctx *ctx = NULL;
    if (cli_ctx_on_device(dev, out_dir, &ctx) == AR_STATUS_OK) {
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
    bool chosen[TUNER_COUNT], blocking;
    if (!select_tuners(o.kernels, chosen, &blocking)) return CLI_EXIT_USAGE;
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
            rc = tune_store_table(tuners[i].binary, tuners[i].key, true, o.import_dir, &dev, out_dir);
        else
            rc = tune_one(&o, &tuners[i], binaries[i], &dev, tuner_dev, out_dir);
    }
    /* Last: blocking is timed with the tables just stored. Not from --import's files. */
    if (rc == CLI_EXIT_OK && blocking && !o.import_dir)
        rc = tune_blocking(&dev, out_dir, o.dry_run);
    if (rc == CLI_EXIT_OK && !o.dry_run) show_pickup(&dev, out_dir);
    return rc;
}

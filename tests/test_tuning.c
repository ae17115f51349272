/* CLBlast tables (tuning.h): a table for this device is applied and GEMM stays correct, also
 * in the column blocks of a GemmBlocking table; a malformed table, one CLBlast rejects and one for another device are warnings or ignored, never
 * failures; the nearest-CPU fallback is labelled; tuner output converts to a valid table. */
#include <dirent.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

/* The shipped AVX-512 Xgemm parameters: a complete, valid set for CLBlast 1.5.3. */
#define XGEMM_PARAMS                                                                               \
    "{\"GEMMK\": 0, \"KREG\": 1, \"KWG\": 32, \"KWI\": 2, \"MDIMA\": 8, \"MDIMC\": 8, "            \
    "\"MWG\": 64, \"NDIMB\": 8, \"NDIMC\": 8, \"NWG\": 64, \"SA\": 1, \"SB\": 1, \"STRM\": 1, "    \
    "\"STRN\": 0, \"VWM\": 4, \"VWN\": 4}"

static char logbuf[16384];

static void capture(enum ar_log_level level, const char *message, void *user)
{
    (void)user;
    size_t n = strlen(logbuf);
    snprintf(logbuf + n, sizeof logbuf - n, "%s: %s\n", level >= AR_LOG_WARN ? "WARN" : "info",
             message);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "cannot write %s", path);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void write_table(const char *dir, const char *name, const char *device, const char *kernel,
                        int precision, const char *params)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{\"note\": \"test\", \"device_name\": \"%s\", \"kernel\": \"%s\", "
             "\"precision\": %d, \"parameters\": %s}\n",
             device, kernel, precision, params);
    write_text(dir, name, text);
}

static void make_dir(char *out, size_t size, const char *root, const char *name)
{
    snprintf(out, size, "%s/%s", root, name);
    CHECK(mkdir(out, 0700) == 0, "mkdir %s", out);
}

/* A context on the default device reading tables from dir, its log captured in logbuf. */
static struct ar_ctx *open_with(const char *dir)
{
    struct ar_ctx_params p = ar_ctx_default_params();
    p.tuning_dir = dir;
    p.log = capture;
    logbuf[0] = '\0';
    struct ar_ctx *ctx = NULL;
    enum ar_status st = ar_ctx_new(&p, &ctx);
    CHECK(st == AR_STATUS_OK, "ar_ctx_new with tables in %s: %s", dir, ar_ctx_errmsg(ctx));
    return ctx;
}

/* C (m, n) = op(A) · op(B) in double, operands stored as ar_gemm reads them. */
static void ref_gemm(bool ta, bool tb, size_t m, size_t n, size_t k, const float *a, const float *b,
                     double *c)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t l = 0; l < k; l++)
                s += (double)(ta ? a[l * m + i] : a[i * k + l]) *
                     (double)(tb ? b[j * k + l] : b[l * n + j]);
            c[i * n + j] = s;
        }
}

/* Awkward sizes and non-zero offsets, every transpose combination the engine uses. */
static void check_gemm(struct ar_ctx *ctx, size_t m, size_t n, size_t k)
{
    static const bool trans[3][2] = {{false, false}, {false, true}, {true, false}};
    const size_t off = 5;
    float *a = malloc(m * k * sizeof *a), *b = malloc(n * k * sizeof *b);
    float *c = malloc(m * n * sizeof *c);
    double *ref = malloc(m * n * sizeof *ref);
    unsigned long long state = 7;
    for (size_t i = 0; i < m * k; i++)
        a[i] = test_uniform(&state);
    for (size_t i = 0; i < n * k; i++)
        b[i] = test_uniform(&state);
    struct ar_mem da, db, dc;
    CHECK_OK(ctx, ar_mem_alloc(ctx, m * k + off, &da));
    CHECK_OK(ctx, ar_mem_alloc(ctx, n * k + off, &db));
    CHECK_OK(ctx, ar_mem_alloc(ctx, m * n + off, &dc));
    CHECK_OK(ctx, ar_mem_write(ctx, ar_mem_at(da, off), a, m * k));
    CHECK_OK(ctx, ar_mem_write(ctx, ar_mem_at(db, off), b, n * k));
    for (int t = 0; t < 3; t++) {
        bool ta = trans[t][0], tb = trans[t][1];
        char what[64];
        snprintf(what, sizeof what, "gemm %c%c %zux%zux%zu", ta ? 'T' : 'N', tb ? 'T' : 'N', m, n,
                 k);
        CHECK_OK(ctx, ar_gemm(ctx, ta, tb, m, n, k, 1.0f, ar_mem_at(da, off), ta ? m : k,
                              ar_mem_at(db, off), tb ? k : n, 0.0f, ar_mem_at(dc, off), n));
        CHECK_OK(ctx, ar_mem_read(ctx, ar_mem_at(dc, off), c, m * n));
        ref_gemm(ta, tb, m, n, k, a, b, ref);
        CHECK_CLOSE(what, ref, c, m * n, k);
    }
    ar_mem_release(&da), ar_mem_release(&db), ar_mem_release(&dc);
    free(a), free(b), free(c), free(ref);
}

static void test_applied(const char *root, const char *device)
{
    char dir[1024], path[1200];
    make_dir(dir, sizeof dir, root, "exact");
    write_table(dir, "mine-xgemm.json", device, "Xgemm", 32, XGEMM_PARAMS);
    /* CLBlast sends products below XGEMM_MIN_INDIRECT_SIZE to XgemmDirect; 0 makes every
     * product in this process use the Xgemm kernel the table above configures. */
    write_table(dir, "mine-routine.json", device, "GemmRoutine", 32,
                "{\"XGEMM_MIN_INDIRECT_SIZE\": 0}");
    /* The operand helpers Xgemm runs before and after itself. With the embedded tables they
     * also make more candidates than the first allocation holds, which once left the parameter
     * names of moved tables dangling (every later override then failed). */
    static const char *const helpers[][2] = {
        {"Copy", "{\"COPY_DIMX\": 8, \"COPY_DIMY\": 8, \"COPY_VW\": 8, \"COPY_WPT\": 4}"},
        {"Pad", "{\"PAD_DIMX\": 16, \"PAD_DIMY\": 16, \"PAD_WPTX\": 1, \"PAD_WPTY\": 2}"},
        {"Transpose", "{\"TRA_DIM\": 16, \"TRA_PAD\": 1, \"TRA_SHUFFLE\": 0, \"TRA_WPT\": 4}"},
        {"Padtranspose", "{\"PADTRA_PAD\": 1, \"PADTRA_TILE\": 8, \"PADTRA_WPT\": 1}"},
        {"XgemmDirect", "{\"KWID\": 2, \"MDIMAD\": 8, \"MDIMCD\": 8, \"NDIMBD\": 8, "
                        "\"NDIMCD\": 8, \"PADA\": 1, \"PADB\": 1, \"VWMD\": 2, \"VWND\": 2, "
                        "\"WGD\": 32}"},
    };
    for (size_t i = 0; i < sizeof helpers / sizeof helpers[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "mine-%s.json", helpers[i][0]);
        write_table(dir, name, device, helpers[i][0], 32, helpers[i][1]);
    }
    struct ar_ctx *ctx = open_with(dir);
    const char *src = ctx ? ar_ctx_tuning_source(ctx) : NULL;
    snprintf(path, sizeof path, "%s/mine-xgemm.json", dir);
    CHECK(src && strstr(src, path), "tuning source \"%s\" names %s", src ? src : "(null)", path);
    CHECK(src && strstr(src, "mine-routine.json"), "routine table applied: \"%s\"",
          src ? src : "(null)");
    for (size_t i = 0; i < sizeof helpers / sizeof helpers[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "mine-%s.json", helpers[i][0]);
        CHECK(src && strstr(src, name), "%s table applied: \"%s\"", helpers[i][0],
              src ? src : "(null)");
    }
    CHECK(!strstr(logbuf, "WARN"), "no warnings expected, got:\n%s", logbuf);
    if (ctx) {
        check_gemm(ctx, 67, 45, 129);
        check_gemm(ctx, 128, 8, 96); /* a rank-8 LoRA-like product */
    }
    ar_ctx_free(ctx);
}

static void test_malformed(const char *root, const char *device)
{
    char dir[1024];
    make_dir(dir, sizeof dir, root, "bad");
    write_text(dir, "a-not-json.json", "{\"device_name\": ");
    write_table(dir, "b-negative.json", device, "Xgemm", 32, "{\"MWG\": -4}");
    write_table(dir, "c-precision.json", device, "Xgemm", 33, XGEMM_PARAMS);
    write_table(dir, "d-missing.json", device, "XgemmDirect", 32, "{\"WGD\": 16}");
    write_table(dir, "e-blocking-missing.json", device, "GemmBlocking", 32, "{\"N_BLOCK\": 64}");
    write_table(dir, "f-blocking-double.json", device, "GemmBlocking", 64,
                "{\"N_BLOCK\": 64, \"MIN_NK\": 1}");
    write_text(dir, "notes.txt", "not a table: ignored without a word");
    struct ar_ctx *ctx = open_with(dir);
    CHECK(ctx != NULL, "a bad user table must not fail the context");
    CHECK(strstr(logbuf, "a-not-json.json") && strstr(logbuf, "not JSON"),
          "warning names the unparsable file:\n%s", logbuf);
    CHECK(strstr(logbuf, "b-negative.json") && strstr(logbuf, "\"MWG\""),
          "warning names the file and the bad parameter:\n%s", logbuf);
    CHECK(strstr(logbuf, "c-precision.json") && strstr(logbuf, "precision"),
          "warning names the bad precision:\n%s", logbuf);
    /* Well-formed but incomplete: CLBlast itself refuses it. */
    CHECK(strstr(logbuf, "d-missing.json") && strstr(logbuf, "CLBlast rejected"),
          "CLBlast's refusal is a warning:\n%s", logbuf);
    CHECK(strstr(logbuf, "e-blocking-missing.json") && strstr(logbuf, "N_BLOCK and MIN_NK"),
          "an incomplete GemmBlocking table is a warning:\n%s", logbuf);
    CHECK(strstr(logbuf, "f-blocking-double.json") && strstr(logbuf, "float32 products only"),
          "a GemmBlocking table for doubles is a warning:\n%s", logbuf);
    CHECK(!strstr(logbuf, "notes.txt"), "non-.json files are not tables:\n%s", logbuf);
    const char *src = ctx ? ar_ctx_tuning_source(ctx) : NULL;
    CHECK(!src || !strstr(src, dir), "no bad table is reported as applied: \"%s\"", src);
    if (ctx) check_gemm(ctx, 33, 17, 65);
    ar_ctx_free(ctx);
}

/* adarank's own GemmBlocking table: ar_gemm then runs large products as column blocks of C
 * (blas.c). Blocks of 40 columns from the first product on: 101 columns make blocks of 40, 40
 * and 21, each at its own offset into B and C, for every transpose; 40 columns stay one call. */
static void test_blocking(const char *root, const char *device)
{
    char dir[1024];
    make_dir(dir, sizeof dir, root, "blocking");
    write_table(dir, "mine-blocking.json", device, "GemmBlocking", 32,
                "{\"N_BLOCK\": 40, \"MIN_NK\": 1}");
    struct ar_ctx *ctx = open_with(dir);
    const char *src = ctx ? ar_ctx_tuning_source(ctx) : NULL;
    CHECK(src && strstr(src, "mine-blocking.json"), "blocking table applied: \"%s\"",
          src ? src : "(null)");
    CHECK(strstr(logbuf, "column blocks of 40 when n*k >= 1"), "the log says so:\n%s", logbuf);
    CHECK(!strstr(logbuf, "WARN"), "no warnings expected, got:\n%s", logbuf);
    if (ctx) {
        check_gemm(ctx, 33, 101, 65);
        check_gemm(ctx, 33, 40, 65);
        check_gemm(ctx, 1, 81, 1);
    }
    ar_ctx_free(ctx);
}

static void test_other_device(const char *root)
{
    char dir[1024];
    make_dir(dir, sizeof dir, root, "other");
    write_table(dir, "gpu-xgemm.json", "Imaginary GPU 9000", "Xgemm", 32, XGEMM_PARAMS);
    struct ar_ctx *ctx = open_with(dir);
    const char *src = ctx ? ar_ctx_tuning_source(ctx) : NULL;
    CHECK(!src || !strstr(src, "gpu-xgemm.json"), "another device's table applied: \"%s\"", src);
    CHECK(!strstr(logbuf, "WARN"), "a foreign table is not a warning:\n%s", logbuf);
    ar_ctx_free(ctx);
}

/* Only on PoCL CPU devices: a table for the same CPU under another LLVM target is applied
 * when nothing matches exactly (double precision has no shipped table), and says so. */
static void test_nearest(const char *root, const char *device)
{
    const char *model = NULL;
    if (strncmp(device, "pthread-", 8) == 0)
        for (const char *p = device + 9; *p && !model; p++)
            if (p[-1] == '-' && !((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))) model = p;
    if (!model) {
        printf("test_nearest: %s is not a PoCL pthread device; skipped\n", device);
        return;
    }
    char dir[1024], other[320], want[600];
    make_dir(dir, sizeof dir, root, "nearest");
    snprintf(other, sizeof other, "pthread-imaginarylake-%s", model);
    write_table(dir, "near-xgemm64.json", other, "Xgemm", 64, XGEMM_PARAMS);
    struct ar_ctx *ctx = open_with(dir);
    const char *src = ctx ? ar_ctx_tuning_source(ctx) : NULL;
    snprintf(want, sizeof want, "near-xgemm64.json (nearest: tuned on %s)", other);
    CHECK(src && strstr(src, want), "fallback labelled: \"%s\" should contain \"%s\"",
          src ? src : "(null)", want);
    ar_ctx_free(ctx);
}

static void test_convert(const char *root)
{
    char dir[1024], p1[1200], p2[1200], p3[1200], err[512] = "", kernel[64] = "";
    make_dir(dir, sizeof dir, root, "tuner");
    static const char *fmt =
        "{\n  \"kernel_family\": \"xgemm_direct_%d\",\n  \"precision\": \"32\",\n"
        "  \"arg_m\": \"%d\",\n  \"arg_n\": \"256\",\n  \"arg_k\": \"256\",\n"
        "  \"device\": \"%s\",\n  \"results\": [\n"
        "    {\"kernel\": \"XgemmDirectTN\", \"time\": %s, \"parameters\": {\"WGD\": %d, "
        "\"PADA\": 1, \"PRECISION\": 32}},\n"
        "    {\"kernel\": \"XgemmDirectTN\", \"time\": 9.5, \"parameters\": {\"WGD\": 64, "
        "\"PADA\": 0, \"PRECISION\": 32}}\n  ]\n}\n";
    char text[2048];
    snprintf(text, sizeof text, fmt, 1, 256, "dev A", "3.25", 16);
    write_text(dir, "clblast_xgemm_direct_1_32.json", text);
    snprintf(text, sizeof text, fmt, 2, 256, "dev A", "1.5", 32);
    write_text(dir, "clblast_xgemm_direct_2_32.json", text);
    snprintf(text, sizeof text, fmt, 2, 256, "dev B", "1.0", 8);
    write_text(dir, "other.json", text);
    snprintf(p1, sizeof p1, "%s/clblast_xgemm_direct_1_32.json", dir);
    snprintf(p2, sizeof p2, "%s/clblast_xgemm_direct_2_32.json", dir);
    snprintf(p3, sizeof p3, "%s/other.json", dir);

    const char *files[3] = {p1, p2, p3};
    char *json = NULL;
    enum ar_status st = ar_tuning_table_from_tuner(files, 2, 0, "unit test.", &json, kernel,
                                                   sizeof kernel, err, sizeof err);
    CHECK(st == AR_STATUS_OK, "convert: %s", err);
    CHECK(!strcmp(kernel, "XgemmDirect"), "tuner variant maps to the override name: %s", kernel);
    CHECK(json && strstr(json, "\"WGD\":32") && strstr(json, "\"PADA\":1"),
          "fastest result (1.5 ms) kept: %s", json ? json : "(null)");
    CHECK(json && !strstr(json, "PRECISION"), "PRECISION is not a tunable: %s", json);
    CHECK(json && strstr(json, "\"device_name\": \"dev A\"") && strstr(json, "unit test."),
          "device and note: %s", json);
    CHECK(json && ar_tuning_table_check(json, strlen(json), err, sizeof err) == AR_STATUS_OK,
          "converted table is valid: %s", err);
    free(json);

    /* Down the ranking: 1.5 ms (WGD 32), 3.25 ms (WGD 16), then two at 9.5 ms; no fifth. */
    st = ar_tuning_table_from_tuner(files, 2, 1, NULL, &json, kernel, sizeof kernel, err,
                                    sizeof err);
    CHECK(st == AR_STATUS_OK && strstr(json, "\"WGD\":16") && strstr(json, "Number 2 by speed"),
          "rank 1 is the second fastest: %s", json ? json : err);
    free(json);
    st = ar_tuning_table_from_tuner(files, 2, 4, NULL, &json, kernel, sizeof kernel, err,
                                    sizeof err);
    CHECK(st == AR_STATUS_NOT_FOUND && json == NULL, "rank past the end: %s %s", ar_status_name(st),
          err);

    /* A run at m = 1024 does 4x the work: 5 ms there beats 1.5 ms at m = 256. */
    snprintf(text, sizeof text, fmt, 1, 1024, "dev A", "5.0", 48);
    write_text(dir, "clblast_xgemm_direct_1_32.json", text);
    st = ar_tuning_table_from_tuner(files, 2, 0, NULL, &json, kernel, sizeof kernel, err,
                                    sizeof err);
    CHECK(st == AR_STATUS_OK && strstr(json, "\"WGD\":48") && strstr(json, "1024x256x256"),
          "files at different sizes compare by rate: %s", json ? json : err);
    free(json);

    st = ar_tuning_table_from_tuner(files, 3, 0, NULL, &json, kernel, sizeof kernel, err,
                                    sizeof err);
    CHECK(st == AR_STATUS_BAD_FORMAT && strstr(err, "other.json") && strstr(err, "dev B"),
          "files from two devices are refused: %s %s", ar_status_name(st), err);
    write_text(dir, "junk.json", "[1, 2]");
    snprintf(p3, sizeof p3, "%s/junk.json", dir);
    st = ar_tuning_table_from_tuner(files + 2, 1, 0, NULL, &json, kernel, sizeof kernel, err,
                                    sizeof err);
    CHECK(st == AR_STATUS_BAD_FORMAT && strstr(err, "junk.json"), "not tuner output: %s", err);
}

static void test_user_dir(void)
{
    char out[256], err[256];
    CHECK(ar_tuning_user_dir("/x/y", out, sizeof out, err, sizeof err) == AR_STATUS_OK &&
              !strcmp(out, "/x/y"),
          "explicit dir wins: %s", out);
    unsetenv("ADARANK_TUNING_DIR");
    setenv("XDG_CACHE_HOME", "/cache", 1);
    CHECK(ar_tuning_user_dir(NULL, out, sizeof out, err, sizeof err) == AR_STATUS_OK &&
              !strcmp(out, "/cache/adarank-cl/clblast"),
          "XDG: %s", out);
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/home/u", 1);
    CHECK(ar_tuning_user_dir(NULL, out, sizeof out, err, sizeof err) == AR_STATUS_OK &&
              !strcmp(out, "/home/u/.cache/adarank-cl/clblast"),
          "HOME: %s", out);
    setenv("ADARANK_TUNING_DIR", "/env", 1);
    CHECK(ar_tuning_user_dir("", out, sizeof out, err, sizeof err) == AR_STATUS_OK &&
              !strcmp(out, "/env"),
          "env: %s", out);
    CHECK(ar_tuning_user_dir(NULL, out, 4, err, sizeof err) == AR_STATUS_INVALID_ARGUMENT,
          "too long for the buffer");
}

int main(void)
{
    struct ar_ctx *probe = test_open_ctx();
    char device[256];
    snprintf(device, sizeof device, "%s", ar_ctx_device(probe)->name);
    ar_ctx_free(probe);
    const char *root = test_tmpdir("tuning"); /* removed however the test ends */
    if (!root)
        return 1;

    test_malformed(root, device);
    test_other_device(root);
    test_nearest(root, device);
    test_blocking(root, device);
    test_applied(root, device); /* last: CLBlast keeps overrides for the whole process */
    test_convert(root);
    test_user_dir();
    return test_finish("tuning");
}

/* Safetensors reading and writing: round trips, every rejection rule on hand-made files, dtype
 * conversion against known bit patterns, sharded checkpoints, atomic writes on a "full disk",
 * the real MiniLM checkpoint, and a deterministic mutation fuzz of the loader. */
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adarank/safetensors.h"
#include "test.h"

static char dir[256]; /* a fresh temporary directory */

static const char *tmp_path(const char *name)
{
    static char path[4][512];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static void write_bytes(const char *path, const void *data, size_t len)
{
    /* A new file each time: ext4 flushes a file truncated and rewritten in place on close
     * (auto_da_alloc), which made the fuzz loop wait on the disk. */
    unlink(path);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(data, 1, len, f) == len, "write %s", path);
    if (f) fclose(f);
}

/* A file from header text and `data_len` data bytes (0, 1, 2, ... so values are known). */
static size_t make_file(unsigned char *out, const char *header, size_t data_len)
{
    size_t n = strlen(header);
    for (int j = 0; j < 8; j++)
        out[j] = (unsigned char)((uint64_t)n >> (8 * j));
    memcpy(out + 8, header, n);
    for (size_t i = 0; i < data_len; i++)
        out[8 + n + i] = (unsigned char)i;
    return 8 + n + data_len;
}

static enum ar_status open_header(const char *header, size_t data_len, char *err, size_t size)
{
    static unsigned char buf[4096];
    size_t len = make_file(buf, header, data_len);
    const char *path = tmp_path("hand.safetensors");
    write_bytes(path, buf, len);
    struct ar_safetensors *st = NULL;
    enum ar_status s = ar_safetensors_open(path, &st, err, size);
    CHECK((s == AR_STATUS_OK) == (st != NULL), "handle iff OK");
    ar_safetensors_free(st);
    return s;
}

static void test_round_trip(void)
{
    float a[6], b[24], c = 3.5f;
    for (int i = 0; i < 6; i++)
        a[i] = (float)i * 0.25f - 1.0f;
    for (int i = 0; i < 24; i++)
        b[i] = 1.0f / (float)(i + 1);
    const struct ar_st_write_tensor ts[] = {
        {"z.weight", 2, {2, 3}, a},
        {"b.lora_B", 3, {2, 3, 4}, b},
        {"scalar", 0, {0}, &c},
        {"empty", 2, {0, 4}, NULL},
    };
    const char *meta[] = {"method", "sora", "format", "ignored"};
    char err[512];
    const char *path = tmp_path("rt.safetensors");
    CHECK(ar_safetensors_write(path, ts, 4, meta, 2, err, sizeof err) == AR_STATUS_OK, "%s", err);
    struct ar_safetensors *st = NULL;
    CHECK(ar_safetensors_open(path, &st, err, sizeof err) == AR_STATUS_OK, "reopen: %s", err);
    if (!st) return;
    CHECK(ar_safetensors_count(st) == 4, "count %zu", ar_safetensors_count(st));
    const char *names[] = {"b.lora_B", "empty", "scalar", "z.weight"};
    for (size_t i = 0; i < 4; i++)
        CHECK(!strcmp(ar_safetensors_at(st, i)->name, names[i]), "sorted %zu", i);
    CHECK(ar_safetensors_at(st, 4) == NULL && ar_safetensors_find(st, "nope") == NULL, "missing");
    const struct ar_st_tensor *t = ar_safetensors_find(st, "b.lora_B");
    CHECK(t && t->dtype == AR_DTYPE_F32 && t->ndim == 3 && t->shape[2] == 4 && t->count == 24 &&
              t->nbytes == 96,
          "b.lora_B info");
    float got[24];
    CHECK(ar_safetensors_read_f32(t, got, 24, err, sizeof err) == AR_STATUS_OK &&
              !memcmp(got, b, 96),
          "b bit-exact");
    t = ar_safetensors_find(st, "scalar");
    CHECK(t && t->ndim == 0 && t->count == 1, "scalar");
    CHECK(ar_safetensors_read_f32(t, got, 1, err, sizeof err) == AR_STATUS_OK && got[0] == 3.5f,
          "scalar value");
    t = ar_safetensors_find(st, "empty");
    CHECK(t && t->count == 0 && ar_safetensors_read_f32(t, NULL, 0, err, sizeof err) == 0, "empty");
    t = ar_safetensors_find(st, "z.weight");
    CHECK(ar_safetensors_read_f32(t, got, 5, err, sizeof err) == AR_STATUS_SHAPE_MISMATCH &&
              strstr(err, "'z.weight': has 6 elements, caller expects 5"),
          "count mismatch: %s", err);
    const char *fmt = ar_safetensors_metadata(st, "format"),
               *m = ar_safetensors_metadata(st, "method");
    CHECK(fmt && !strcmp(fmt, "pt") && m && !strcmp(m, "sora"), "metadata");
    ar_safetensors_free(st);
    ar_safetensors_free(NULL);

    /* The header is padded to 8 bytes and begins with '{' (what the reference writes). */
    FILE *f = fopen(path, "rb");
    unsigned char head[9] = {0};
    CHECK(f && fread(head, 1, 9, f) == 9, "read head");
    if (f) fclose(f);
    CHECK(head[0] % 8 == 0 && head[8] == '{', "padded header, length %d", head[0]);
}

static void test_write_errors(void)
{
    char err[512];
    float x[4] = {1, 2, 3, 4};
    const struct ar_st_write_tensor dup[] = {{"a", 1, {4}, x}, {"a", 1, {4}, x}};
    CHECK(ar_safetensors_write(tmp_path("d.st"), dup, 2, NULL, 0, err, sizeof err) ==
                  AR_STATUS_INVALID_ARGUMENT &&
              strstr(err, "'a': name given twice"),
          "duplicate: %s", err);
    const struct ar_st_write_tensor bad_utf8[] = {{"caf\xC3", 1, {4}, x}};
    CHECK(ar_safetensors_write(tmp_path("u.st"), bad_utf8, 1, NULL, 0, err, sizeof err) ==
                  AR_STATUS_INVALID_ARGUMENT &&
              strstr(err, "not valid UTF-8"),
          "bad UTF-8: %s", err);
    const struct ar_st_write_tensor unnamed[] = {{"", 1, {4}, x}};
    CHECK(ar_safetensors_write(tmp_path("e.st"), unnamed, 1, NULL, 0, err, sizeof err) ==
              AR_STATUS_INVALID_ARGUMENT,
          "empty name");
    CHECK(ar_safetensors_write("/nonexistent-dir/x.safetensors", dup, 1, NULL, 0, err,
                               sizeof err) == AR_STATUS_IO &&
              strstr(err, "/nonexistent-dir/x.safetensors: cannot create"),
          "missing dir: %s", err);

    /* A "full disk": RLIMIT_FSIZE makes writes past 4 KiB fail (EFBIG) like ENOSPC would. The
     * existing file must stay intact and no temporary file may be left behind. */
    const char *path = tmp_path("keep.safetensors");
    const struct ar_st_write_tensor small[] = {{"w", 1, {4}, x}};
    CHECK(ar_safetensors_write(path, small, 1, NULL, 0, err, sizeof err) == AR_STATUS_OK, "%s",
          err);
    static float big[8192];
    const struct ar_st_write_tensor large[] = {{"w", 1, {8192}, big}};
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 4096;
    signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "setrlimit");
    enum ar_status s = ar_safetensors_write(path, large, 1, NULL, 0, err, sizeof err);
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK(s == AR_STATUS_IO && strstr(err, "cannot write") && strstr(err, path), "full: %s", err);
    struct ar_safetensors *st = NULL;
    float got[4] = {0};
    CHECK(ar_safetensors_open(path, &st, err, sizeof err) == AR_STATUS_OK &&
              ar_safetensors_read_f32(ar_safetensors_find(st, "w"), got, 4, err, sizeof err) ==
                  AR_STATUS_OK &&
              got[3] == 4.0f,
          "old file intact: %s", err);
    ar_safetensors_free(st);
    DIR *d = opendir(dir);
    int leftovers = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        leftovers += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    CHECK(leftovers == 0, "%d temporary files left", leftovers);
}

#define T(name, dtype, shape, b, e)                                                                \
    "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

static void test_rejections(void)
{
    static const struct {
        const char *header;
        size_t data;
        const char *want;
    } cases[] = {
        {"{" T("a", "F32", "[2]", 0, 8) "}", 8, NULL},    /* valid */
        {"{" T("a", "F32", "[2]", 0, 8) "}   ", 8, NULL}, /* space padding is fine */
        {"{" T("a", "F32", "[2]", 0, 8) "," T("e", "I8", "[0]", 8, 8) "}", 8, NULL},
        {"{\"a\":", 0, "header JSON: line 1, column 6"},
        {"[1]", 0, "header is not a JSON object"},
        {"{" T("a", "F8_E4M3", "[2]", 0, 2) "}", 2, "tensor 'a': unknown dtype \"F8_E4M3\""},
        {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'a': missing or non-string"},
        {"{\"a\":[1]}", 4, "tensor 'a': entry is not an object"},
        {"{" T("a", "F32", "3", 0, 12) "}", 12, "tensor 'a': missing or non-array \"shape\""},
        {"{" T("a", "F32", "[-1]", 0, 4) "}", 4, "tensor 'a': shape[0] is not a non-negative"},
        {"{" T("a", "F32", "[1.0]", 0, 4) "}", 4, "tensor 'a': shape[0] is not a non-negative"},
        {"{" T("a", "F32", "[1,1,1,1,1,1,1,1,1]", 0, 4) "}", 4, "tensor 'a': 9 dimensions"},
        {"{" T("a", "F32", "[99999999999,99999999999]", 0, 4) "}", 4, "shape is too large"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
         "\"data_offsets\" must"},
        {"{" T("a", "F32", "[1]", 4, 0) "}", 4, "tensor 'a': \"data_offsets\" must be"},
        {"{" T("a", "F32", "[1]", -4, 0) "}", 4, "tensor 'a': \"data_offsets\" must be"},
        {"{" T("a", "F32", "[2]", 0, 8) "}", 4, "tensor 'a': data_offsets [0, 8] run past"},
        {"{" T("a", "F32", "[2]", 0, 4) "}", 4, "tensor 'a': 4 bytes in data_offsets, but shape"},
        {"{" T("a", "F32", "[2]", 0, 8) "," T("b", "F32", "[2]", 4, 12) "}", 12,
         "tensor 'b': data starts at byte 4 of the data block, expected 8 (overlaps"},
        {"{" T("a", "F32", "[1]", 0, 4) "," T("b", "F32", "[1]", 8, 12) "}", 12,
         "tensor 'b': data starts at byte 8 of the data block, expected 4 (gap"},
        {"{" T("a", "F32", "[1]", 4, 8) "}", 8, "tensor 'a': data starts at byte 4"},
        {"{" T("a", "F32", "[1]", 0, 4) "}", 8, "4 bytes at the end of the file belong to no"},
        {"{" T("a", "F32", "[1]", 0, 4) "," T("a", "F32", "[1]", 4, 8) "}", 8,
         "tensor 'a': duplicate name"},
        {"{" T("caf\xC3", "F32", "[1]", 0, 4) "}", 4,
         "header JSON: line 1, column 6: invalid UTF-8"},
        {"{" T("a\\u0000b", "F32", "[1]", 0, 4) "}", 4, "tensor 'a': name contains a NUL"},
        {"{\"__metadata__\":{\"n\":1}," T("a", "F32", "[1]", 0, 4) "}", 4,
         "\"__metadata__\" must map strings to strings"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char err[512] = "";
        enum ar_status s = open_header(cases[k].header, cases[k].data, err, sizeof err);
        if (!cases[k].want) {
            CHECK(s == AR_STATUS_OK, "case %zu valid: %s", k, err);
            continue;
        }
        CHECK(s == AR_STATUS_BAD_FORMAT, "case %zu: status %s", k, ar_status_name(s));
        CHECK(strstr(err, cases[k].want) &&
                  strstr(err, "hand.safetensors: ") == err + strlen(dir) + 1,
              "case %zu: got \"%s\", want \"%s\"", k, err, cases[k].want);
    }
    /* Header length rules, on raw bytes. */
    char err[512];
    unsigned char raw[16] = {7, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    const char *path = tmp_path("hand.safetensors");
    struct ar_safetensors *st = NULL;
    write_bytes(path, raw, 5);
    CHECK(ar_safetensors_open(path, &st, err, sizeof err) == AR_STATUS_BAD_FORMAT &&
              strstr(err, "5 bytes is too short"),
          "short: %s", err);
    raw[0] = 9;
    write_bytes(path, raw, 16);
    CHECK(ar_safetensors_open(path, &st, err, sizeof err) == AR_STATUS_BAD_FORMAT &&
              strstr(err, "header length 9 exceeds the file size 16"),
          "N > size: %s", err);
    raw[0] = 0x01, raw[3] = 0x10; /* 0x10000001 = 268 MB */
    write_bytes(path, raw, 16);
    CHECK(ar_safetensors_open(path, &st, err, sizeof err) == AR_STATUS_BAD_FORMAT &&
              strstr(err, "exceeds the 100 MB cap"),
          "cap: %s", err);
    CHECK(ar_safetensors_open(tmp_path("none.safetensors"), &st, err, sizeof err) == AR_STATUS_IO &&
              strstr(err, "none.safetensors: cannot open"),
          "missing: %s", err);
    CHECK(ar_safetensors_open(dir, &st, err, sizeof err) == AR_STATUS_NOT_FOUND &&
              strstr(err, "no model.safetensors"),
          "empty dir: %s", err);
}

/* Known bit patterns of every dtype, with the data block at an odd offset (header of 8k+3
 * bytes) so that nothing is aligned. */
static void test_dtypes(void)
{
    static const uint16_t f16[] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x0400,
                                   0x03FF, 0x7C00, 0x8000, 0x3555, 0x7E00};
    static const double f16_want[] = {1,         -2,       65504, 0x1p-24,    0x1p-14,
                                      0x3FFp-24, INFINITY, -0.0,  0x1.554p-2, NAN};
    static const uint16_t bf16[] = {0x3F80, 0xC049, 0x0001, 0xFF80};
    static const double bf16_want[] = {1, -3.140625, 0x1p-133, -INFINITY};
    static const double f64[] = {0.1, 1e300, -2.5};
    static const int64_t i64[] = {0, 1, -511};
    static const unsigned char b8[] = {0, 1, 0xFD}; /* BOOL 0, 1; I8 -3 */
    char header[1024];
    int n = snprintf(
        header, sizeof header,
        "{" T("h", "F16", "[2,5]", 0, 20) "," T("bf", "BF16", "[4]", 20, 28) "," T(
            "d", "F64", "[3]", 28, 52) "," T("pos", "I64", "[1,3]", 52,
                                             76) "," T("b", "BOOL", "[2]", 76,
                                                       78) "," T("i8", "I8", "[1]", 78, 79) "}");
    while (n % 8 != 3)
        header[n++] = ' ';
    header[n] = '\0';
    unsigned char file[2048];
    size_t len = make_file(file, header, 0), at = len;
    for (size_t i = 0; i < 10; i++, at += 2)
        file[at] = f16[i] & 0xFF, file[at + 1] = (unsigned char)(f16[i] >> 8);
    for (size_t i = 0; i < 4; i++, at += 2)
        file[at] = bf16[i] & 0xFF, file[at + 1] = (unsigned char)(bf16[i] >> 8);
    for (size_t i = 0; i < 3; i++, at += 8) {
        uint64_t bits;
        memcpy(&bits, &f64[i], 8);
        for (int j = 0; j < 8; j++)
            file[at + j] = (unsigned char)(bits >> (8 * j));
    }
    for (size_t i = 0; i < 3; i++, at += 8)
        for (int j = 0; j < 8; j++)
            file[at + j] = (unsigned char)((uint64_t)i64[i] >> (8 * j));
    memcpy(file + at, b8, 3);
    at += 3;
    const char *path = tmp_path("dtypes.safetensors");
    write_bytes(path, file, at);
    char err[512];
    struct ar_safetensors *st = NULL;
    CHECK(ar_safetensors_open(path, &st, err, sizeof err) == AR_STATUS_OK, "open: %s", err);
    if (!st) return;
    float got[10];
    const struct ar_st_tensor *t = ar_safetensors_find(st, "h");
    CHECK(t && t->dtype == AR_DTYPE_F16 && t->nbytes == 20, "F16 info");
    CHECK(ar_safetensors_read_f32(t, got, 10, err, sizeof err) == AR_STATUS_OK, "F16 read");
    for (int i = 0; i < 10; i++)
        CHECK(i == 9 ? isnan(got[i])
                     : got[i] == (float)f16_want[i] && !signbit(got[i]) == !signbit(f16_want[i]),
              "F16 %04x -> %g, want %g", f16[i], got[i], f16_want[i]);
    t = ar_safetensors_find(st, "bf");
    CHECK(ar_safetensors_read_f32(t, got, 4, err, sizeof err) == AR_STATUS_OK, "BF16 read");
    for (int i = 0; i < 4; i++)
        CHECK(got[i] == (float)bf16_want[i], "BF16 %04x -> %g", bf16[i], got[i]);
    t = ar_safetensors_find(st, "d");
    CHECK(ar_safetensors_read_f32(t, got, 3, err, sizeof err) == AR_STATUS_OK && got[0] == 0.1f &&
              isinf(got[1]) && got[2] == -2.5f,
          "F64 rounds to nearest float");
    t = ar_safetensors_find(st, "pos");
    CHECK(t && t->dtype == AR_DTYPE_I64 && t->shape[0] == 1 && t->shape[1] == 3, "I64 info");
    CHECK(ar_safetensors_read_f32(t, got, 3, err, sizeof err) == AR_STATUS_OK && got[1] == 1 &&
              got[2] == -511,
          "I64 values");
    t = ar_safetensors_find(st, "b");
    CHECK(ar_safetensors_read_f32(t, got, 2, err, sizeof err) == 0 && got[0] == 0 && got[1] == 1,
          "BOOL");
    t = ar_safetensors_find(st, "i8");
    CHECK(ar_safetensors_read_f32(t, got, 1, err, sizeof err) == 0 && got[0] == -3, "I8");
    ar_safetensors_free(st);
    CHECK(!strcmp(ar_dtype_name(AR_DTYPE_BF16), "BF16") && ar_dtype_size(AR_DTYPE_I64) == 8 &&
              !strcmp(ar_dtype_name(AR_DTYPE_COUNT), "?") && ar_dtype_size(AR_DTYPE_COUNT) == 0,
          "dtype table");
}

static void write_index(const char *path, const char *map)
{
    char text[1024];
    int n =
        snprintf(text, sizeof text, "{\"metadata\":{\"total_size\":0},\"weight_map\":{%s}}", map);
    write_bytes(path, text, (size_t)n);
}

static void test_sharded(void)
{
    char err[512];
    float x[3] = {1, 2, 3};
    const struct ar_st_write_tensor s1[] = {{"a", 1, {3}, x}, {"b", 1, {2}, x}};
    const struct ar_st_write_tensor s2[] = {{"c", 2, {1, 3}, x}};
    CHECK(mkdir(tmp_path("sharded"), 0755) == 0, "mkdir");
    CHECK(ar_safetensors_write(tmp_path("sharded/m-1.safetensors"), s1, 2, NULL, 0, err,
                               sizeof err) == 0 &&
              ar_safetensors_write(tmp_path("sharded/m-2.safetensors"), s2, 1, NULL, 0, err,
                                   sizeof err) == 0,
          "shards: %s", err);
    const char *index = tmp_path("sharded/model.safetensors.index.json");
    write_index(index,
                "\"c\":\"m-2.safetensors\",\"a\":\"m-1.safetensors\",\"b\":\"m-1.safetensors\"");
    struct ar_safetensors *st = NULL;
    CHECK(ar_safetensors_open(tmp_path("sharded"), &st, err, sizeof err) == AR_STATUS_OK,
          "open the directory: %s", err);
    const struct ar_st_tensor *c = ar_safetensors_find(st, "c");
    float got[3] = {0};
    CHECK(ar_safetensors_count(st) == 3 && c && strstr(c->file, "m-2.safetensors") &&
              ar_safetensors_read_f32(c, got, 3, err, sizeof err) == 0 && got[2] == 3,
          "collection of 3");
    ar_safetensors_free(st);
    static const struct {
        const char *map, *want;
    } bad[] = {
        {"\"c\":\"m-2.safetensors\",\"a\":\"m-1.safetensors\",\"b\":\"m-2.safetensors\"",
         "tensor 'b': not in m-2.safetensors"},
        {"\"c\":\"m-2.safetensors\",\"a\":\"m-1.safetensors\"", "tensor 'b': in the shard but not"},
        {"\"c\":\"../m-2.safetensors\"", "tensor 'c': shard must be a file name"},
        {"\"c\":\"m-3.safetensors\"", "m-3.safetensors: cannot open"},
        {"\"c\":\"m-2.safetensors\",\"c\":\"m-2.safetensors\"", "tensor 'c': mapped twice"},
        {"\"a\":\"m-1.safetensors\",\"b\":\"m-1.safetensors\",\"a\":\"m-3.safetensors\"", "mapped"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        write_index(index, bad[k].map);
        CHECK(ar_safetensors_open(index, &st, err, sizeof err) != AR_STATUS_OK && !st &&
                  strstr(err, bad[k].want),
              "index case %zu: %s", k, err);
    }
    /* The same name in two shards. */
    CHECK(ar_safetensors_write(tmp_path("sharded/m-3.safetensors"), s2, 1, NULL, 0, err,
                               sizeof err) == 0,
          "m-3");
    write_index(index,
                "\"a\":\"m-1.safetensors\",\"b\":\"m-1.safetensors\",\"c\":\"m-2.safetensors\","
                "\"d\":\"m-3.safetensors\"");
    CHECK(ar_safetensors_open(index, &st, err, sizeof err) == AR_STATUS_BAD_FORMAT &&
              strstr(err, "tensor 'c': in both"),
          "name in two shards: %s", err);
    write_index(index, "");
    CHECK(ar_safetensors_open(index, &st, err, sizeof err) == AR_STATUS_OK &&
              ar_safetensors_count(st) == 0,
          "empty weight_map: %s", err);
    ar_safetensors_free(st);
}

static void test_real_model(void)
{
    const char *model_dir = getenv("ADARANK_MODEL_DIR");
    if (!model_dir) {
        test_model_missing("real-checkpoint checks");
        return;
    }
    char err[512];
    struct ar_safetensors *st = NULL;
    CHECK(ar_safetensors_open(model_dir, &st, err, sizeof err) == AR_STATUS_OK, "MiniLM: %s", err);
    if (!st) return;
    CHECK(ar_safetensors_count(st) == 104, "104 tensors, got %zu", ar_safetensors_count(st));
    const struct ar_st_tensor *w = ar_safetensors_find(st, "embeddings.word_embeddings.weight");
    CHECK(w && w->dtype == AR_DTYPE_F32 && w->ndim == 2 && w->shape[0] == 30522 &&
              w->shape[1] == 384,
          "word embeddings (30522, 384)");
    const struct ar_st_tensor *q =
        ar_safetensors_find(st, "encoder.layer.5.attention.self.query.weight");
    CHECK(q && q->ndim == 2 && q->shape[0] == 384 && q->shape[1] == 384, "query (384, 384)");
    const struct ar_st_tensor *p = ar_safetensors_find(st, "embeddings.position_ids");
    static float pos[512];
    CHECK(p && p->dtype == AR_DTYPE_I64 && p->shape[0] == 1 && p->shape[1] == 512 &&
              ar_safetensors_read_f32(p, pos, 512, err, sizeof err) == 0 && pos[511] == 511,
          "position_ids I64 (1, 512) = 0..511");
    float *emb = malloc(w->count * sizeof *emb);
    CHECK(emb && ar_safetensors_read_f32(w, emb, w->count, err, sizeof err) == 0, "read all");
    double sum = 0;
    for (size_t i = 0; emb && i < w->count; i++)
        sum += fabs(emb[i]);
    CHECK(isfinite(sum) && sum > 0, "finite non-zero embeddings (mean |w| %g)", sum / w->count);
    free(emb);
    ar_safetensors_free(st);
}

/* Truncations at every length and a few thousand random byte mutations of a valid file: the
 * loader must always answer with a status and a message, and whatever it accepts must be
 * readable in full (ASan/valgrind runs catch any out-of-range read). */
static void test_fuzz(void)
{
    float x[12];
    for (int i = 0; i < 12; i++)
        x[i] = (float)i;
    const struct ar_st_write_tensor ts[] = {
        {"w", 2, {2, 3}, x}, {"v", 1, {4}, x}, {"s", 0, {0}, x}};
    char err[512];
    const char *good = tmp_path("good.safetensors"), *path = tmp_path("fuzz.safetensors");
    CHECK(ar_safetensors_write(good, ts, 3, NULL, 0, err, sizeof err) == 0, "%s", err);
    unsigned char base[1024], buf[1024];
    FILE *f = fopen(good, "rb");
    size_t len = f ? fread(base, 1, sizeof base, f) : 0;
    if (f) fclose(f);
    static const unsigned char interesting[] = {'"', '{', '}',  '[', ']', ',',  ':',  '0',
                                                '9', '-', '\\', ' ', 0,   0x80, 0xC3, 0xFF};
    unsigned long long rng = 12345;
    int cases = 0, accepted = 0, bad = 0;
    for (size_t k = 0; k < len + 3000; k++, cases++) {
        memcpy(buf, base, len);
        size_t n = len;
        if (k < len) {
            n = k; /* every truncation */
        } else {
            int edits = 1 + (int)((test_uniform(&rng) + 1) * 1.5f);
            for (int e = 0; e < edits; e++) {
                size_t at = (size_t)((test_uniform(&rng) + 1) * 0.5f * (float)len) % len;
                float r = test_uniform(&rng);
                if (r < -0.3f)
                    buf[at] = interesting[(size_t)((r + 1) * 100) % sizeof interesting];
                else if (r < 0.4f)
                    buf[at] ^= (unsigned char)(1u << ((size_t)((r + 1) * 100) % 8));
                else
                    buf[at] = (unsigned char)((r + 1) * 127);
            }
        }
        write_bytes(path, buf, n);
        struct ar_safetensors *st = NULL;
        err[0] = '\0';
        enum ar_status s = ar_safetensors_open(path, &st, err, sizeof err);
        if (s == AR_STATUS_OK) {
            accepted++;
            for (size_t i = 0; i < ar_safetensors_count(st); i++) {
                const struct ar_st_tensor *t = ar_safetensors_at(st, i);
                float *out = malloc((t->count ? t->count : 1) * sizeof *out);
                bad += !out || ar_safetensors_read_f32(t, out, t->count, err, sizeof err) != 0;
                free(out);
            }
        } else {
            bad += st != NULL || !err[0] || (s != AR_STATUS_BAD_FORMAT && s != AR_STATUS_IO);
        }
        ar_safetensors_free(st);
    }
    CHECK(bad == 0, "%d of %d fuzz cases misbehaved", bad, cases);
    CHECK(accepted < cases / 2 && accepted > 0, "%d of %d mutants accepted", accepted, cases);
    printf("fuzz: %d cases, %d accepted (mutations inside the data block)\n", cases, accepted);
}

int main(void)
{
    /* Thousands of small files: on tmpfs when there is one, since creating files on a busy
     * journaled disk costs milliseconds each. */
    struct stat sb;
    if (!getenv("TMPDIR") && stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) &&
        !access("/dev/shm", W_OK))
        setenv("TMPDIR", "/dev/shm", 0);
    const char *made = test_tmpdir("st"); /* removed however the test ends */
    if (!made || strlen(made) >= sizeof dir)
        return 1;
    snprintf(dir, sizeof dir, "%s", made);
    test_round_trip();
    test_write_errors();
    test_rejections();
    test_dtypes();
    test_sharded();
    test_real_model();
    test_fuzz();
    return test_finish("safetensors");
}

/* The loader fuzz harnesses (tests/fuzz/) run deterministically, without libFuzzer: every file
 * of tests/fuzz/corpus/<loader>/ and tests/fuzz/regressions/<loader>/ goes through its harness,
 * and so do deterministic mutations of each (bit flips, truncations, byte insertions and
 * deletions, copied chunks, JSON-ish tokens). The only property is the fuzzers' one: each call
 * returns, with no crash (and, under ASan or valgrind, no leak or bad access). The regressions
 * are the minimized inputs that once crashed a loader (see tests/fuzz/README.md).
 *
 * $AR_FUZZ_MUTATIONS sets the mutations per file (default below; 0 runs the files only, which
 * is what a valgrind run wants); $AR_FUZZ_ONLY runs one loader. */
#include "fuzz/fuzz.h"
#include "test.h"

#include <dirent.h>

/* Mutations per seed file, and a cap on the bytes mutated per loader so that the large seeds
 * (tokenizers) do not dominate: the whole test stays around 10-20 s on one core. */
#define DEFAULT_MUTATIONS 2000
#define BYTES_PER_LOADER (32u << 20)

struct loader {
    const char *name;
    int (*fn)(const uint8_t *data, size_t size);
};

static const struct loader loaders[] = {
    {"json", ar_fuzz_json},
    {"safetensors", ar_fuzz_safetensors},
    {"model_config", ar_fuzz_model_config},
    {"tokenizer", ar_fuzz_tokenizer},
    {"tokenizer_encode", ar_fuzz_tokenizer_encode},
    {"dataset", ar_fuzz_dataset},
    {"metrics", ar_fuzz_metrics},
    {"train_config", ar_fuzz_train_config},
    {"tuning", ar_fuzz_tuning},
    {"dataset_tokens", ar_fuzz_dataset_tokens},
    {"dataset_lm", ar_fuzz_dataset_lm},
    {"peft_adapter", ar_fuzz_peft_adapter},
};

static uint64_t next(uint64_t *s) /* xorshift64* */
{
    *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static uint64_t hash(const char *a, const char *b)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const char *s = a; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    for (const char *s = b; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h ? h : 1;
}

/* One random edit of buf[0..*len) (capacity cap). */
static void mutate(uint8_t *buf, size_t *len, size_t cap, uint64_t *rng)
{
    static const char *const tokens[] = {
        "\"",    "{",    "}",    "[",    "]",        ",",    ":",
        "\\",    "\\u",  "\n",   "\t",   "\r\n",     "0",    "-1",
        "1e999", "null", "\xff", "\xc3", "\xf0\x9f", "\"\"", "18446744073709551616",
        "\0"};
    size_t n = *len, pos = n ? next(rng) % n : 0;
    switch (next(rng) % 6) {
    case 0: /* bit flip */
        if (n) buf[pos] ^= (uint8_t)(1u << (next(rng) % 8));
        break;
    case 1: /* truncation */
        *len = n ? next(rng) % n : 0;
        break;
    case 2: /* random byte inserted */
    case 3: /* token inserted */
    {
        const char *t = tokens[next(rng) % (sizeof tokens / sizeof *tokens)];
        uint8_t byte = (uint8_t)next(rng);
        bool random = next(rng) & 1;
        const uint8_t *src = random ? &byte : (const uint8_t *)t;
        size_t k = random ? 1 : t[0] ? strlen(t) : 1; /* "\0" inserts one NUL */
        if (n + k > cap) break;
        memmove(buf + pos + k, buf + pos, n - pos);
        memcpy(buf + pos, src, k);
        *len = n + k;
        break;
    }
    case 4: /* range deleted */
        if (n) {
            size_t k = 1 + next(rng) % (n - pos < 16 ? n - pos : 16);
            memmove(buf + pos, buf + pos + k, n - pos - k);
            *len = n - k;
        }
        break;
    default: /* a chunk copied over another place */
        if (n) {
            size_t from = next(rng) % n, k = 1 + next(rng) % 32;
            if (from + k > n) k = n - from;
            if (pos + k > n) k = n - pos;
            memmove(buf + pos, buf + from, k);
        }
        break;
    }
}

static uint8_t *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            uint8_t *grown = realloc(buf, cap = cap ? 2 * cap : 4096);
            if (!grown) break;
            buf = grown;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0) break;
        n += got;
    }
    fclose(f);
    *size = n;
    return buf;
}

/* Runs one file and its mutations; returns the bytes fed. */
static size_t run_file(const struct loader *l, const char *path, const char *name, int mutations,
                       size_t budget)
{
    size_t size = 0;
    uint8_t *seed = read_all(path, &size);
    CHECK(seed != NULL, "%s: cannot read", path);
    if (!seed) return 0;
    CHECK(l->fn(seed, size) == 0, "%s: harness failed", path);
    size_t cap = size + 4096, fed = size;
    uint8_t *buf = malloc(cap);
    uint64_t rng = hash(l->name, name);
    for (int i = 0; buf && i < mutations && fed < budget; i++) {
        size_t len = size;
        memcpy(buf, seed, size);
        for (int k = 1 + (int)(next(&rng) % 4); k > 0; k--)
            mutate(buf, &len, cap, &rng);
        if (l->fn(buf, len) != 0) {
            CHECK(0, "%s: mutation %d failed", path, i);
            break;
        }
        fed += len;
    }
    free(buf);
    free(seed);
    return fed;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every file of dir, sharing *budget (bytes) between them; returns how many files. */
static int run_dir(const struct loader *l, const char *dir, int mutations, size_t *budget)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    /* Sorted names, so that the run (and the budget's split) does not depend on readdir order. */
    char *names[256];
    int count = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL && count < 256;)
        if (e->d_name[0] != '.' && strcmp(e->d_name, "README.md") != 0)
            names[count++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)count, sizeof *names, compare_names);
    for (int i = 0; i < count; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        size_t fed = run_file(l, path, names[i], mutations, *budget / (size_t)(count - i));
        *budget -= fed < *budget ? fed : *budget;
        free(names[i]);
    }
    return count;
}

int main(void)
{
    const char *data = getenv("ADARANK_TEST_DATA");
    const char *only = getenv("AR_FUZZ_ONLY");
    const char *m = getenv("AR_FUZZ_MUTATIONS");
    int mutations = m ? atoi(m) : DEFAULT_MUTATIONS;
    if (!data) data = ".";
    for (size_t i = 0; i < sizeof loaders / sizeof *loaders; i++) {
        const struct loader *l = &loaders[i];
        if (only && strcmp(only, l->name) != 0) continue;
        char dir[1024];
        size_t budget = BYTES_PER_LOADER;
        snprintf(dir, sizeof dir, "%s/fuzz/corpus/%s", data, l->name);
        int seeds = run_dir(l, dir, mutations, &budget);
        /* Every loader has a committed seed corpus: a missing one means the test data moved. */
        CHECK(seeds > 0, "%s: no seed files", dir);
        snprintf(dir, sizeof dir, "%s/fuzz/regressions/%s", data, l->name);
        budget = BYTES_PER_LOADER;
        int regressions = run_dir(l, dir, mutations, &budget);
        printf("%-16s %3d seeds, %3d regressions, %d mutations each\n", l->name, seeds, regressions,
               mutations);
    }
    return test_finish("fuzz_regressions");
}

/* Fuzzes ar_tokenizer_encode on arbitrary bytes with real tokenizers: MiniLM's WordPiece
 * tokenizer.json ($ADARANK_MODEL_DIR, else .cache/models/all-MiniLM-L6-v2 of the source tree)
 * and the byte-level BPE fixtures of tests/fixtures ($ADARANK_TEST_DATA, else the source tree's
 * tests/). Tokenizers that cannot be found are left out (the driver says which), except under
 * ADARANK_REQUIRE_MODEL, where a missing one aborts (a failed regression test in CI).
 *
 * Input: byte 0 picks the tokenizer (low 2 bits) and whether there is a pair (bit 2); byte 1 is
 * max_len (0..255, so the too-short case is covered); byte 2 is where the text splits into the
 * pair; the rest is the text. */
#include "fuzz.h"

#include <adarank/tokenizer.h>

#include <stdio.h>
#include <stdlib.h>

#ifndef AR_FUZZ_SOURCE_ROOT
#define AR_FUZZ_SOURCE_ROOT "."
#endif

static struct ar_tokenizer *toks[4];
static int n_toks = -1;

static void free_toks(void)
{
    for (int i = 0; i < n_toks; i++)
        ar_tokenizer_free(toks[i]);
}

static void load(const char *dir, const char *name)
{
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct ar_tokenizer *tok = NULL;
    if (ar_tokenizer_load(path, &tok, err, sizeof err) == AR_STATUS_OK)
        toks[n_toks++] = tok;
    else if (getenv("ADARANK_REQUIRE_MODEL")) { /* setup.sh test: every tokenizer is there */
        fprintf(stderr, "fuzz_tokenizer_encode: %s, and ADARANK_REQUIRE_MODEL is set\n", err);
        abort();
    } else
        fprintf(stderr, "fuzz_tokenizer_encode: skipping %s\n", err);
}

int ar_fuzz_tokenizer_encode(const uint8_t *data, size_t size)
{
    if (n_toks < 0) {
        n_toks = 0;
        const char *models = getenv("ADARANK_MODEL_DIR");
        const char *tests = getenv("ADARANK_TEST_DATA");
        load(models ? models : AR_FUZZ_SOURCE_ROOT "/.cache/models/all-MiniLM-L6-v2",
             "tokenizer.json");
        tests = tests ? tests : AR_FUZZ_SOURCE_ROOT "/tests";
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/fixtures", tests);
        load(dir, "bpe_tokenizer.json");
        load(dir, "bpe_llama3_tokenizer.json");
        load(dir, "bpe_tokenizer_roberta.json");
        atexit(free_toks);
    }
    if (n_toks == 0 || size < 3) return 0;
    const struct ar_tokenizer *tok = toks[(data[0] & 3) % n_toks];
    int max_len = data[1];
    const char *text = (const char *)data + 3;
    size_t len = size - 3, split = data[0] & 4 ? (size_t)data[2] * len / 255 : len;
    int32_t ids[256], types[256], mask[256];
    int n = 0;
    char err[256];
    enum ar_status s = ar_tokenizer_encode(tok, text, split, split < len ? text + split : NULL,
                                           len - split, max_len, ids, types, &n, err, sizeof err);
    if (s == AR_STATUS_OK) {
        if (n < 0 || n > max_len) __builtin_trap(); /* the documented bound */
        ar_tokenizer_pad(tok, ids, types, mask, n, max_len);
        for (int i = 0; i < n; i++)
            if (!ar_tokenizer_token(tok, ids[i])) __builtin_trap(); /* every id is real */
    }
    return 0;
}

AR_FUZZ_ENTRY(ar_fuzz_tokenizer_encode)

/* Fuzzes tokenizer.json loading (core/tokenizer_load.c and the component readers) from memory;
 * a tokenizer that loads is then used on a few fixed texts and on the input's own bytes. */
#include "fuzz.h"

#include <adarank/tokenizer.h>

static void use(const struct ar_tokenizer *tok, const char *text, size_t len)
{
    int32_t ids[64], types[64], mask[64];
    int n = 0;
    char err[256];
    if (ar_tokenizer_encode(tok, text, len, "pair", 4, 64, ids, types, &n, err, sizeof err) ==
        AR_STATUS_OK)
        ar_tokenizer_pad(tok, ids, types, mask, n, 64);
    for (int i = 0; i < n; i++)
        (void)ar_tokenizer_token(tok, ids[i]);
}

int ar_fuzz_tokenizer(const uint8_t *data, size_t size)
{
    struct ar_tokenizer *tok = NULL;
    char err[512];
    if (ar_tokenizer_load_json((const char *)data, size, "fuzz.json", &tok, err, sizeof err) ==
        AR_STATUS_OK) {
        static const char *const texts[] = {"", "Hello, world! It's 3.14 unaffable [MASK].",
                                            "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80",
                                            "  \t\n<|endoftext|> ##ing \xc4\xa0the"};
        for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
            use(tok, texts[i], __builtin_strlen(texts[i]));
        use(tok, (const char *)data, size < 512 ? size : 512);
        (void)ar_tokenizer_token_id(tok, "[PAD]");
        (void)ar_tokenizer_token(tok, ar_tokenizer_vocab_size(tok));
        (void)ar_tokenizer_token(tok, -1);
        (void)ar_tokenizer_pad_id(tok);
        (void)ar_tokenizer_max_length(tok);
    }
    ar_tokenizer_free(tok);
    return 0;
}

AR_FUZZ_ENTRY(ar_fuzz_tokenizer)

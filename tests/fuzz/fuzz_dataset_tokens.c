/* Fuzzes the token-classification reader (core/dataset_tokens.c, the TOKENS column set) from
 * memory, then ar_dataset_encode_words. Byte 0: bit 0 skip_bad_rows, bit 1 fixed tag names,
 * bit 2 the column names "words"/"tags" instead of the defaults, bits 3-7 max_len (2-33). The rest
 * is the JSONL file. The toy word encoder gives one id per byte of each word (so a word of zero
 * bytes has no token) between two special tokens, truncated from the end. */
#include "fuzz.h"

#include <adarank/dataset.h>

#include <string.h>

static enum ar_status toy_words(void *user, const char *const *words, int n_words, int max_len,
                                int32_t *ids, int32_t *type_ids, int32_t *word_ids, int *len,
                                char *err, size_t err_size)
{
    (void)user, (void)err, (void)err_size;
    int n = 0;
    ids[n] = 1, type_ids[n] = 0, word_ids[n++] = -1; /* max_len >= 2 */
    for (int w = 0; w < n_words; w++)
        for (const char *s = words[w]; *s && n < max_len - 1; s++, n++)
            ids[n] = (uint8_t)*s, type_ids[n] = 0, word_ids[n] = w;
    ids[n] = 2, type_ids[n] = 0, word_ids[n++] = -1;
    *len = n;
    return AR_STATUS_OK;
}

int ar_fuzz_dataset_tokens(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    static const char *const tags[] = {"O", "B-PER", "I-PER", "B-LOC"};
    struct ar_dataset_params p = ar_dataset_default_params();
    p.format = AR_DATASET_FORMAT_JSONL;
    p.columns = AR_DATASET_COLUMNS_TOKENS;
    p.skip_bad_rows = data[0] & 1;
    if (data[0] & 2) p.labels = tags, p.label_count = 4;
    if (data[0] & 4) p.text_column = "words", p.label_column = "tags";
    int max_len = 2 + (data[0] >> 3);
    struct ar_dataset *ds = NULL;
    char err[1024];
    if (ar_dataset_read_buffer("fuzz.jsonl", (const char *)data + 1, size - 1, &p, &ds, err,
                               sizeof err) == AR_STATUS_OK) {
        for (int i = 0; i < ds->count; i++) { /* every word and tag the reader promises */
            const char *w = ds->examples[i].text;
            for (int k = 0; k < ds->examples[i].words; k++) {
                int tag = ds->examples[i].tags[k];
                if (tag < 0 || tag >= ds->num_labels) __builtin_trap();
                w += strlen(w) + 1;
            }
        }
        struct ar_encoded *enc = NULL;
        if (ar_dataset_encode_words(ds, toy_words, NULL, max_len, &enc, err, sizeof err) ==
            AR_STATUS_OK) {
            for (int64_t t = 0; t < enc->offsets[enc->count]; t++)
                if (enc->token_labels[t] != AR_IGNORE_LABEL &&
                    (enc->token_labels[t] < 0 || enc->token_labels[t] >= enc->num_labels))
                    __builtin_trap();
        }
        ar_encoded_free(enc);
        for (int i = 0; i < ds->num_labels; i++)
            (void)strlen(ds->label_names[i]);
    }
    ar_dataset_free(ds);
    return 0;
}

AR_FUZZ_ENTRY(ar_fuzz_dataset_tokens)

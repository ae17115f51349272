/* Fuzzes prompt/completion data (the PROMPT column set) through the reader and the causal-LM
 * encoding (core/dataset_lm.c, ar_dataset_encode_lm) from memory. Byte 0: bits 0-1 the format
 * (.jsonl, .tsv, .csv, .json), bit 2 skip_bad_rows, bit 3 a bos the prompt encoder puts first
 * (and truncation keeps), bits 4-7 with byte 1 max_len (1-4096, small values most often). The
 * rest is the file. The toy encoders give one id per byte (ids 3..258): bos 1, eos 2. Checked:
 * every example's labels are the next id or ignored, and no example is longer than max_len. */
#include "fuzz.h"

#include <adarank/dataset.h>

#include <string.h>

static enum ar_status toy_bytes(const char *text, int first, int max_len, int32_t *ids,
                                int32_t *type_ids, int *len)
{
    int n = 0;
    if (first >= 0 && n < max_len) ids[n] = first, type_ids[n++] = 0;
    for (size_t i = 0; text[i] && n < max_len; i++)
        ids[n] = 3 + (uint8_t)text[i], type_ids[n++] = 0;
    *len = n;
    return AR_STATUS_OK;
}

static enum ar_status toy_prompt(void *user, const char *text, const char *text_b, int max_len,
                                 int32_t *ids, int32_t *type_ids, int *len, char *err,
                                 size_t err_size)
{
    (void)text_b, (void)err, (void)err_size;
    return toy_bytes(text, *(const int *)user ? 1 : -1, max_len, ids, type_ids, len);
}

static enum ar_status toy_plain(void *user, const char *text, const char *text_b, int max_len,
                                int32_t *ids, int32_t *type_ids, int *len, char *err,
                                size_t err_size)
{
    (void)user, (void)text_b, (void)err, (void)err_size;
    return toy_bytes(text, -1, max_len, ids, type_ids, len);
}

int ar_fuzz_dataset_lm(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    static const char *const names[] = {"fuzz.jsonl", "fuzz.tsv", "fuzz.csv", "fuzz.json"};
    struct ar_dataset_params p = ar_dataset_default_params();
    p.columns = AR_DATASET_COLUMNS_PROMPT;
    p.skip_bad_rows = data[0] & 4;
    int with_bos = data[0] & 8;
    int max_len = 1 + (((data[0] >> 4) | (data[1] << 4)) & 4095);
    if (data[1] & 0x80) max_len = 1 + (max_len & 15);
    struct ar_lm_encoder enc = {toy_prompt, toy_plain, &with_bos, 2, with_bos ? 1 : -1};
    struct ar_dataset *ds = NULL;
    char err[1024];
    if (ar_dataset_read_buffer(names[data[0] & 3], (const char *)data + 2, size - 2, &p, &ds, err,
                               sizeof err) == AR_STATUS_OK) {
        struct ar_encoded *set = NULL;
        if (ar_dataset_encode_lm(ds, &enc, max_len, &set, err, sizeof err) == AR_STATUS_OK) {
            for (int i = 0; i < set->count; i++) {
                int64_t a = set->offsets[i], b = set->offsets[i + 1];
                if (b < a || b - a > max_len) __builtin_trap();
                for (int64_t t = a; t < b; t++) {
                    int32_t want = t + 1 < b ? set->ids[t + 1] : 2;
                    int32_t got = set->token_labels[t];
                    if (got != AR_IGNORE_LABEL && got != want && t + 1 < b) __builtin_trap();
                }
            }
        }
        ar_encoded_free(set);
    }
    ar_dataset_free(ds);
    return 0;
}

AR_FUZZ_ENTRY(ar_fuzz_dataset_lm)

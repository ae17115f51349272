/* Fuzzes the data file reader (core/dataset*.c) from memory. Byte 0 picks the format (by the
 * name's extension: .tsv, .csv, .jsonl, or an unknown one), the column set, skip_bad_rows and
 * whether fixed class names are given; the rest is the file. A file that loads is encoded with a
 * toy encoder (one id per byte) so that every example string is read. */
#include "fuzz.h"

#include <adarank/dataset.h>

#include <string.h>

static enum ar_status toy_encode(void *user, const char *text, const char *text_b, int max_len,
                                 int32_t *ids, int32_t *type_ids, int *len, char *err,
                                 size_t err_size)
{
    (void)user, (void)err, (void)err_size;
    int n = 0;
    for (int part = 0; part < 2; part++) {
        const char *s = part ? text_b : text;
        for (size_t i = 0; s && s[i] && n < max_len; i++, n++) {
            ids[n] = (uint8_t)s[i];
            type_ids[n] = part;
        }
    }
    *len = n;
    return AR_STATUS_OK;
}

int ar_fuzz_dataset(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    static const char *const names[] = {"fuzz.tsv", "fuzz.csv", "fuzz.jsonl", "fuzz.txt"};
    static const char *const labels[] = {"neg", "pos", "0"};
    struct ar_dataset_params p = ar_dataset_default_params();
    p.columns = (enum ar_dataset_columns)((data[0] >> 2) & 3);
    p.skip_bad_rows = data[0] & 16;
    if (data[0] & 32) p.labels = labels, p.label_count = 3;
    struct ar_dataset *ds = NULL;
    char err[1024];
    if (ar_dataset_read_buffer(names[data[0] & 3], (const char *)data + 1, size - 1, &p, &ds, err,
                               sizeof err) == AR_STATUS_OK) {
        struct ar_encoded *enc = NULL;
        (void)ar_dataset_encode(ds, toy_encode, NULL, 16, &enc, err, sizeof err);
        ar_encoded_free(enc);
        for (int i = 0; i < ds->num_labels; i++)
            (void)strlen(ds->label_names[i]);
    }
    ar_dataset_free(ds);
    return 0;
}

AR_FUZZ_ENTRY(ar_fuzz_dataset)

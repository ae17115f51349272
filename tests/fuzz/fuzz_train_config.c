/* Fuzzes the train config loader (ar_train_config_load, core/train_config_file.c) through a
 * temporary file, then writes the result back to JSON (every loaded string is touched). */
#include "fuzz.h"

#include <adarank/train.h>

#include <stdlib.h>

int ar_fuzz_train_config(const uint8_t *data, size_t size)
{
    const char *path = ar_fuzz_write("train.json", data, size);
    if (!path) return 0;
    struct ar_train_config c;
    ar_train_config_init(&c);
    char err[512];
    if (ar_train_config_load(&c, path, err, sizeof err) == AR_STATUS_OK)
        free(ar_train_config_to_json(&c, false));
    ar_train_config_clear(&c);
    return 0;
}

AR_FUZZ_ENTRY(ar_fuzz_train_config)

/* Fuzzes config.json validation (core/model_config.c) through a temporary file. */
#include "fuzz.h"

#include <adarank/model.h>

int ar_fuzz_model_config(const uint8_t *data, size_t size)
{
    const char *path = ar_fuzz_write("config.json", data, size);
    if (!path) return 0;
    struct ar_model_config c;
    char err[512];
    (void)ar_model_config_load(path, &c, err, sizeof err);
    return 0;
}

AR_FUZZ_ENTRY(ar_fuzz_model_config)

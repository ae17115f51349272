/* Fuzzes the CLBlast tuning table check (ar_tuning_table_check, core/tuning.c) from memory. */
#include "fuzz.h"

#include <adarank/tuning.h>

int ar_fuzz_tuning(const uint8_t *data, size_t size)
{
    char err[512];
    (void)ar_tuning_table_check((const char *)data, size, err, sizeof err);
    return 0;
}

AR_FUZZ_ENTRY(ar_fuzz_tuning)

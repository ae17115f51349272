/* Fuzzes the PEFT adapter reader (ar_peft_adapter_read, core/peft_import.c), which takes a
 * folder: bytes 0-1 (little endian) are the length n of adapter_config.json, the next n bytes
 * that file (fewer when the input is shorter) and the rest adapter_model.safetensors, both
 * written into the harness's private folder. An adapter that reads is walked whole: every
 * module's A and B and every saved tensor are summed, its targets listed. */
#include "fuzz.h"

#include <adarank/peft.h>

#include <stdio.h>

int ar_fuzz_peft_adapter(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t n = (size_t)data[0] | (size_t)data[1] << 8;
    data += 2, size -= 2;
    if (n > size) n = size;
    if (!ar_fuzz_write(AR_PEFT_CONFIG_FILE, data, n) ||
        !ar_fuzz_write(AR_PEFT_WEIGHTS_FILE, data + n, size - n))
        return 0;
    struct ar_peft_adapter *a = NULL;
    char err[1024];
    if (ar_peft_adapter_read(ar_fuzz_dir(), &a, err, sizeof err) == AR_STATUS_OK) {
        volatile float sum = 0;
        for (int m = 0; m < a->n_modules; m++) {
            const struct ar_peft_module *mod = &a->modules[m];
            for (int i = 0; mod->a && i < mod->rank * mod->in; i++)
                sum += mod->a[i];
            for (int i = 0; mod->b && i < mod->out * mod->rank; i++)
                sum += mod->b[i];
        }
        for (int t = 0; t < a->n_tensors; t++) {
            const struct ar_peft_tensor *x = &a->tensors[t];
            int64_t count = x->shape[0] * (x->ndim == 2 ? x->shape[1] : 1);
            for (int64_t i = 0; i < count; i++)
                sum += x->data[i];
        }
        char targets[4096];
        (void)ar_peft_adapter_targets(a, targets, sizeof targets);
        (void)ar_peft_adapter_max_rank(a);
    }
    ar_peft_adapter_free(a);
    return 0;
}

AR_FUZZ_ENTRY(ar_fuzz_peft_adapter)

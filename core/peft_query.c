/* Questions about a PEFT adapter read by ar_peft_adapter_read (peft.h): its largest rank, a saved
 * tensor by name, and the target modules to give a model that loads it. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "adarank/peft.h"

int ar_peft_adapter_max_rank(const struct ar_peft_adapter *a)
{
    int r = 0;
    for (int i = 0; i < a->n_modules; i++)
        r = a->modules[i].rank > r ? a->modules[i].rank : r;
    return r;
}

const struct ar_peft_tensor *ar_peft_adapter_tensor(const struct ar_peft_adapter *a,
                                                    const char *name)
{
    for (int i = 0; i < a->n_tensors; i++)
        if (!strcmp(a->tensors[i].name, name))
            return &a->tensors[i];
    return NULL;
}

/* "bert.encoder.layer.3.attention.self.query" → "attention.self.query": what follows the first
 * all-digit path component (the layer index); the whole path when there is none. */
static const char *in_layer_suffix(const char *name)
{
    for (const char *p = name;;) {
        const char *end = strchr(p, '.');
        if (!end)
            return name;
        bool digits = end > p;
        for (const char *q = p; q < end; q++)
            digits = digits && *q >= '0' && *q <= '9';
        if (digits)
            return end + 1;
        p = end + 1;
    }
}

/* Joins the modules' full paths (suffix = false) or distinct suffixes with commas; false when
 * the list would exceed `size` characters, 32 names or 63 characters a name (model_modules.c's
 * target table). */
static bool join_targets(const struct ar_peft_adapter *a, bool suffix, char *out, size_t size)
{
    size_t len = 0;
    int names = 0;
    out[0] = '\0';
    for (int i = 0; i < a->n_modules; i++) {
        if (a->modules[i].rank == 0)
            continue;
        const char *t = suffix ? in_layer_suffix(a->modules[i].name) : a->modules[i].name;
        bool seen = false;
        for (int j = 0; suffix && j < i && !seen; j++)
            seen = a->modules[j].rank > 0 && !strcmp(in_layer_suffix(a->modules[j].name), t);
        if (seen)
            continue;
        size_t n = strlen(t);
        if (n > 63 || ++names > 32 || len + n + 1 >= size)
            return false;
        len += (size_t)snprintf(out + len, size - len, "%s%s", len ? "," : "", t);
    }
    return names > 0;
}

enum ar_status ar_peft_adapter_targets(const struct ar_peft_adapter *a, char *out, size_t size)
{
    /* 256: the model's target_modules buffer (model_internal.h) */
    size_t fit = size < 256 ? size : 256;
    if (size && (join_targets(a, false, out, fit) || join_targets(a, true, out, fit)))
        return AR_STATUS_OK;
    if (size)
        out[0] = '\0';
    return AR_STATUS_INVALID_ARGUMENT;
}

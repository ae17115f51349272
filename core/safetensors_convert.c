/* Element types of safetensors files and their conversion to float32 (safetensors.h). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "adarank/safetensors.h"

/* X(NAME, bytes): the dtype strings of the format, in enum order. */
#define AR__DTYPE_TABLE(X)                                                                         \
    X(F32, 4)                                                                                      \
    X(F16, 2) X(BF16, 2) X(F64, 8) X(I64, 8) X(I32, 4) X(I16, 2) X(I8, 1) X(U8, 1) X(BOOL, 1)      \
        X(U16, 2) X(U32, 4) X(U64, 8)

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
#define AR__DTYPE_ENTRY(name, bytes) {#name, bytes},
    AR__DTYPE_TABLE(AR__DTYPE_ENTRY)
#undef AR__DTYPE_ENTRY
};

_Static_assert(sizeof dtypes / sizeof *dtypes == AR_DTYPE_COUNT, "dtype table matches the enum");

const char *ar_dtype_name(enum ar_dtype dtype)
{
    return (unsigned)dtype < AR_DTYPE_COUNT ? dtypes[dtype].name : "?";
}

size_t ar_dtype_size(enum ar_dtype dtype)
{
    return (unsigned)dtype < AR_DTYPE_COUNT ? dtypes[dtype].size : 0;
}

/* Little-endian loads from possibly unaligned bytes: the data block follows a header of any
 * length, so tensors need not be aligned in the mapped file. */
static uint64_t load_le(const unsigned char *p, size_t bytes)
{
    uint64_t v = 0;
    for (size_t i = bytes; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

static float f32_from_bits(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* IEEE 754 binary16 to binary32, exactly: subnormals are renormalised, inf and NaN kept. */
static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF;
    if (exp == 0x1F) /* inf / NaN */
        return f32_from_bits(sign | 0x7F800000u | man << 13);
    if (exp == 0) {
        if (man == 0) return f32_from_bits(sign);
        exp = 127 - 15 + 1;
        while (!(man & 0x400)) { /* shift the leading 1 into the implicit position */
            man <<= 1;
            exp--;
        }
        return f32_from_bits(sign | exp << 23 | (man & 0x3FF) << 13);
    }
    return f32_from_bits(sign | (exp + 127 - 15) << 23 | man << 13);
}

static bool host_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

enum ar_status ar_safetensors_read_f32(const struct ar_st_tensor *t, float *out, size_t count,
                                       char *err, size_t err_size)
{
    if (!t || (!out && count)) return AR_STATUS_INVALID_ARGUMENT;
    if (count != t->count) {
        snprintf(err, err_size, "%s: tensor '%s': has %zu elements, caller expects %zu", t->file,
                 t->name, t->count, count);
        return AR_STATUS_SHAPE_MISMATCH;
    }
    const unsigned char *p = t->data;
    size_t esize = ar_dtype_size(t->dtype);
    if (t->dtype == AR_DTYPE_F32 && host_little_endian()) {
        if (count) memcpy(out, p, count * sizeof *out);
        return AR_STATUS_OK;
    }
    for (size_t i = 0; i < count; i++, p += esize) {
        uint64_t v = load_le(p, esize);
        double d;
        switch (t->dtype) {
        case AR_DTYPE_F32:
            out[i] = f32_from_bits((uint32_t)v);
            continue;
        case AR_DTYPE_F16:
            out[i] = f16_to_f32((uint16_t)v);
            continue;
        case AR_DTYPE_BF16:
            out[i] = f32_from_bits((uint32_t)v << 16);
            continue;
        case AR_DTYPE_F64:
            memcpy(&d, &v, sizeof d);
            out[i] = (float)d;
            continue;
        case AR_DTYPE_I64:
            out[i] = (float)(int64_t)v;
            continue;
        case AR_DTYPE_I32:
            out[i] = (float)(int32_t)(uint32_t)v;
            continue;
        case AR_DTYPE_I16:
            out[i] = (float)(int16_t)(uint16_t)v;
            continue;
        case AR_DTYPE_I8:
            out[i] = (float)(int8_t)(uint8_t)v;
            continue;
        case AR_DTYPE_BOOL:
            out[i] = v != 0;
            continue;
        case AR_DTYPE_U8:
        case AR_DTYPE_U16:
        case AR_DTYPE_U32:
        case AR_DTYPE_U64:
            out[i] = (float)v;
            continue;
        default:
            snprintf(err, err_size, "%s: tensor '%s': dtype %d unknown", t->file, t->name,
                     (int)t->dtype);
            return AR_STATUS_UNSUPPORTED;
        }
    }
    return AR_STATUS_OK;
}

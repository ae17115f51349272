/* Reader for "ARFX" fixture files (see fixture.h). Plain C, no library dependency. */
#include "fixture.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FIXTURE_VERSION = 1, FIXTURE_MAX_NDIM = 4, FIXTURE_MAX_NAME = 4096 };

struct reader {
    FILE *f;
    const char *path;
    char *err;
    size_t err_size;
};

static int fail(struct reader *r, const char *what)
{
    snprintf(r->err, r->err_size, "%s: %s", r->path, what);
    return 1;
}

static int read_bytes(struct reader *r, void *dst, size_t n, const char *what)
{
    if (fread(dst, 1, n, r->f) != n) return fail(r, what);
    return 0;
}

/* Little-endian u32 whatever the host's byte order. */
static int read_u32(struct reader *r, uint32_t *out, const char *what)
{
    unsigned char b[4];
    if (read_bytes(r, b, 4, what)) return 1;
    *out = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 0;
}

static double element(const unsigned char *p, enum fixture_dtype dtype)
{
    uint64_t bits = 0;
    size_t size = dtype == FIXTURE_F64 ? 8 : 4;
    for (size_t i = 0; i < size; i++)
        bits |= (uint64_t)p[i] << (8 * i);
    if (dtype == FIXTURE_F64) {
        double d;
        memcpy(&d, &bits, 8);
        return d;
    }
    uint32_t b32 = (uint32_t)bits;
    if (dtype == FIXTURE_I32) return (double)(int32_t)b32;
    float f;
    memcpy(&f, &b32, 4);
    return f;
}

static int read_data(struct reader *r, struct fixture_array *a)
{
    size_t size = a->dtype == FIXTURE_F64 ? 8 : 4;
    unsigned char *raw = malloc(a->count * size);
    a->f64 = malloc(a->count * sizeof *a->f64);
    a->f32 = malloc(a->count * sizeof *a->f32);
    if (!raw || !a->f64 || !a->f32) {
        free(raw);
        return fail(r, "out of memory");
    }
    if (read_bytes(r, raw, a->count * size, "truncated array data")) {
        free(raw);
        return 1;
    }
    for (size_t i = 0; i < a->count; i++) {
        a->f64[i] = element(raw + i * size, a->dtype);
        a->f32[i] = (float)a->f64[i];
    }
    free(raw);
    return 0;
}

static int read_array(struct reader *r, struct fixture_array *a)
{
    uint32_t len, dtype, ndim;
    if (read_u32(r, &len, "truncated name length")) return 1;
    if (len == 0 || len > FIXTURE_MAX_NAME) return fail(r, "bad array name length");
    a->name = calloc(len + 1, 1);
    if (!a->name) return fail(r, "out of memory");
    if (read_bytes(r, a->name, len, "truncated name") || read_u32(r, &dtype, "truncated dtype") ||
        read_u32(r, &ndim, "truncated ndim"))
        return 1;
    if (dtype > FIXTURE_F64) return fail(r, "unknown dtype (0 f32, 1 i32, 2 f64)");
    if (ndim > FIXTURE_MAX_NDIM) return fail(r, "more than 4 dimensions");
    a->dtype = (enum fixture_dtype)dtype;
    a->ndim = (int)ndim;
    a->count = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        uint32_t dim;
        if (read_u32(r, &dim, "truncated dims")) return 1;
        a->dims[d] = dim;
        if (dim && a->count > SIZE_MAX / 8 / dim) return fail(r, "array too large");
        a->count *= dim;
    }
    return a->count ? read_data(r, a) : 0;
}

int fixture_load(const char *path, struct fixture *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    struct reader r = {fopen(path, "rb"), path, err, err_size};
    if (!r.f) return fail(&r, "cannot open");
    char magic[4];
    uint32_t version = 0, count = 0;
    int rc = read_bytes(&r, magic, 4, "truncated header") ||
             read_u32(&r, &version, "truncated header") || read_u32(&r, &count, "truncated header");
    if (!rc && memcmp(magic, "ARFX", 4) != 0) rc = fail(&r, "not an ARFX fixture (bad magic)");
    if (!rc && version != FIXTURE_VERSION) rc = fail(&r, "unsupported fixture version (want 1)");
    if (!rc && (count == 0 || count > 1u << 20)) rc = fail(&r, "bad array count");
    if (!rc && !(out->arrays = calloc(count, sizeof *out->arrays))) rc = fail(&r, "out of memory");
    for (uint32_t i = 0; !rc && i < count; i++) {
        out->count = i + 1;
        rc = read_array(&r, &out->arrays[i]);
    }
    fclose(r.f);
    if (rc) fixture_free(out);
    return rc;
}

void fixture_free(struct fixture *fx)
{
    if (!fx) return;
    for (size_t i = 0; i < fx->count; i++) {
        free(fx->arrays[i].name);
        free(fx->arrays[i].f64);
        free(fx->arrays[i].f32);
    }
    free(fx->arrays);
    memset(fx, 0, sizeof *fx);
}

const struct fixture_array *fixture_find(const struct fixture *fx, const char *name)
{
    for (size_t i = 0; i < fx->count; i++)
        if (strcmp(fx->arrays[i].name, name) == 0) return &fx->arrays[i];
    return NULL;
}

const char *fixture_path(const char *file, char *buf, size_t size)
{
    const char *dir = getenv("ADARANK_TEST_DATA");
    snprintf(buf, size, "%s/fixtures/%s", dir && *dir ? dir : "tests", file);
    return buf;
}

/* Reader for the tests' PyTorch fixture files ("ARFX" version 1, written by the scripts in
 * tests/fixtures/; the format is documented in tests/fixtures/gen_lora.py and gen_bert.py):
 *
 *     char magic[4] = "ARFX"; u32 version = 1; u32 count;
 *     count × { u32 name_len; char name[name_len]; u32 dtype (0 f32, 1 i32, 2 f64);
 *               u32 ndim (0..4); u32 dims[ndim]; data[prod(dims)] }      all little-endian
 *
 * Every array is loaded twice: as doubles (exact for all three types: the reference side of a
 * comparison) and rounded to floats (what a test uploads to the device). */
#ifndef ADARANK_TEST_FIXTURE_H
#define ADARANK_TEST_FIXTURE_H

#include <stddef.h>

enum fixture_dtype { FIXTURE_F32 = 0, FIXTURE_I32 = 1, FIXTURE_F64 = 2 };

struct fixture_array {
    char *name;
    enum fixture_dtype dtype;
    int ndim;
    size_t dims[4];
    size_t count; /* prod(dims); 1 for a scalar */
    double *f64;
    float *f32;
};

struct fixture {
    size_t count;
    struct fixture_array *arrays;
};

/* Loads a whole file; on failure returns non-zero with "path: what is wrong" in err. */
int fixture_load(const char *path, struct fixture *out, char *err, size_t err_size);
void fixture_free(struct fixture *fx); /* a zeroed fixture is fine */

/* The array called name, or NULL. */
const struct fixture_array *fixture_find(const struct fixture *fx, const char *name);

/* "$ADARANK_TEST_DATA/fixtures/<file>" (the tests/ source dir; "tests" when unset) into buf. */
const char *fixture_path(const char *file, char *buf, size_t size);

#endif

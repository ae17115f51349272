/* Reading and writing safetensors checkpoints (the Hugging Face format; see FORMATS.md).
 *
 * A file is an 8-byte little-endian header length N, N bytes of JSON naming every tensor's dtype,
 * shape and [begin, end) byte range in the data block, then the data block. Reading maps the file
 * and checks every rule the reference implementation checks (header size and cap, valid UTF-8
 * JSON, known dtypes, shape × dtype size = byte size, ranges inside the data block, contiguous
 * with no gaps or overlaps, no duplicate names) before any tensor is handed out; a sharded
 * checkpoint (model.safetensors.index.json and its shards) opens as one collection.
 *
 * Errors go to `err` as "PATH: tensor 'NAME': what is wrong".
 */
#ifndef ADARANK_SAFETENSORS_H
#define ADARANK_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Element types of the format (appended only). */
enum ar_dtype {
    AR_DTYPE_F32,
    AR_DTYPE_F16,
    AR_DTYPE_BF16,
    AR_DTYPE_F64,
    AR_DTYPE_I64,
    AR_DTYPE_I32,
    AR_DTYPE_I16,
    AR_DTYPE_I8,
    AR_DTYPE_U8,
    AR_DTYPE_BOOL,
    AR_DTYPE_U16,
    AR_DTYPE_U32,
    AR_DTYPE_U64,
    AR_DTYPE_COUNT
};

/* "F32", "BF16", ...; "?" outside the enum. */
const char *ar_dtype_name(enum ar_dtype dtype);
/* Bytes per element; 0 outside the enum. */
size_t ar_dtype_size(enum ar_dtype dtype);

#define AR_ST_MAX_DIMS 8

/* One tensor of an open checkpoint; valid until ar_safetensors_free. */
struct ar_st_tensor {
    const char *name;
    enum ar_dtype dtype;
    int ndim;
    int64_t shape[AR_ST_MAX_DIMS];
    size_t count;     /* elements: product of shape (1 for a scalar) */
    size_t nbytes;    /* count × dtype size */
    const void *data; /* little-endian, inside the mapped file; not necessarily aligned */
    const char *file; /* the file it lives in */
};

struct ar_safetensors;

/* Opens a .safetensors file, a model.safetensors.index.json, or a model directory holding
 * model.safetensors or model.safetensors.index.json. AR_STATUS_IO when a file cannot be read,
 * AR_STATUS_BAD_FORMAT when one breaks a rule, AR_STATUS_NOT_FOUND for a directory with neither. */
enum ar_status ar_safetensors_open(const char *path, struct ar_safetensors **out, char *err,
                                   size_t err_size);
void ar_safetensors_free(struct ar_safetensors *st); /* NULL is fine */

/* Tensors sorted by name (the order of Python's safe_open(...).keys()). */
size_t ar_safetensors_count(const struct ar_safetensors *st);
const struct ar_st_tensor *ar_safetensors_at(const struct ar_safetensors *st, size_t i);
/* By exact name, or NULL. */
const struct ar_st_tensor *ar_safetensors_find(const struct ar_safetensors *st, const char *name);
/* A "__metadata__" value of the (first) file, or NULL. */
const char *ar_safetensors_metadata(const struct ar_safetensors *st, const char *key);

/* Converts a tensor of any dtype to float32 (F16/BF16 exactly, F64 rounded to nearest, integers
 * and BOOL by value). `count` must equal t->count: a mismatch is AR_STATUS_SHAPE_MISMATCH. */
enum ar_status ar_safetensors_read_f32(const struct ar_st_tensor *t, float *out, size_t count,
                                       char *err, size_t err_size);

/* A float32 tensor to write. */
struct ar_st_write_tensor {
    const char *name;
    int ndim;
    int64_t shape[AR_ST_MAX_DIMS];
    const float *data; /* product(shape) floats, row-major */
};

/* Writes tensors (sorted by name, as the reference implementation does) with "__metadata__"
 * {"format": "pt"} plus `metadata_count` extra (key, value) string pairs given flat in
 * `metadata` ({k0, v0, k1, v1, ...}; may be NULL when the count is 0). The file is written to a
 * temporary file in the same directory, synced and renamed over `path`, so a failure (full disk,
 * unwritable directory) leaves any existing file intact. */
enum ar_status ar_safetensors_write(const char *path, const struct ar_st_write_tensor *tensors,
                                    size_t count, const char *const *metadata,
                                    size_t metadata_count, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif

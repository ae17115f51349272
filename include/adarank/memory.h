/* Device memory: a float32 region is a (cl_mem, offset) pair, as CLBlast's API takes it.
 *
 * Offsets and sizes are in floats, not bytes, so a view into a flat parameter arena is just a
 * different offset into the same buffer. A view with buf == NULL means "absent" where an API
 * documents an operand as optional.
 */
#ifndef ADARANK_MEMORY_H
#define ADARANK_MEMORY_H

#include "device.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ar_mem {
    cl_mem buf;
    size_t off; /* in floats */
};

static inline struct ar_mem ar_mem_at(struct ar_mem m, size_t floats)
{
    m.off += floats;
    return m;
}

static inline bool ar_mem_present(struct ar_mem m)
{
    return m.buf != NULL;
}

/* Allocates n floats (n > 0) of device memory, contents undefined. */
enum ar_status ar_mem_alloc(struct ar_ctx *ctx, size_t n, struct ar_mem *out);
/* Releases the buffer behind a view returned by ar_mem_alloc; zeroes the view. NULL buf is fine. */
void ar_mem_release(struct ar_mem *m);

/* Device memory this context holds through ar_mem_alloc, in bytes: the current total, and (peak,
 * may be NULL) the largest total since the context was created. A buffer counts until OpenCL
 * actually frees it (after ar_mem_release and once no queued command uses it). Buffers CLBlast
 * allocates internally for its own scratch are not counted. */
size_t ar_ctx_device_bytes(const struct ar_ctx *ctx, size_t *peak);

/* Blocking copies between host and device. */
enum ar_status ar_mem_write(struct ar_ctx *ctx, struct ar_mem dst, const float *src, size_t n);
enum ar_status ar_mem_read(struct ar_ctx *ctx, struct ar_mem src, float *dst, size_t n);
/* Sets n floats to value (enqueued, not waited for). */
enum ar_status ar_mem_fill(struct ar_ctx *ctx, struct ar_mem dst, float value, size_t n);
/* Copies n floats device-to-device (enqueued). */
enum ar_status ar_mem_copy(struct ar_ctx *ctx, struct ar_mem dst, struct ar_mem src, size_t n);

#ifdef __cplusplus
}
#endif

#endif

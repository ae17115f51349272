/* Library-internal declarations shared across core/ files. Cross-file names carry the `ar__`
 * prefix; nothing here is part of the public API. */
#ifndef ADARANK_CORE_INTERNAL_H
#define ADARANK_CORE_INTERNAL_H

#include <stdarg.h>

#include "adarank/adarank.h"

#if defined(__GNUC__)
#define AR__PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define AR__PRINTF(fmt, args)
#endif

/* ---- errors (errors.c) ------------------------------------------------------------------ */

/* Records "what: details" as the context's message and returns status. */
enum ar_status ar__fail(struct ar_ctx *ctx, enum ar_status status, const char *fmt, ...)
    AR__PRINTF(3, 4);
/* Same for a failed OpenCL call: appends the symbolic name and raw value of `code`. */
enum ar_status ar__fail_cl(struct ar_ctx *ctx, cl_int code, const char *fmt, ...) AR__PRINTF(3, 4);
/* Appends text to the message (used for build logs, which can be long). */
void ar__errmsg_append(struct ar_ctx *ctx, const char *text);
void ar__errmsg_clear(struct ar_ctx *ctx);
/* "CL_OUT_OF_RESOURCES" for -5; "CL_UNKNOWN_ERROR" for codes outside the table. */
const char *ar__cl_error_name(cl_int code);

/* For the functions without a context (char *err, size_t err_size): formats the message into
 * err (when err and err_size are non-zero) and returns status. */
enum ar_status ar__fail_buf(char *err, size_t err_size, enum ar_status status, const char *fmt, ...)
    AR__PRINTF(4, 5);

void ar__log(const struct ar_ctx *ctx, enum ar_log_level level, const char *fmt, ...)
    AR__PRINTF(3, 4);

/* ---- programs and kernels (kernels.c) --------------------------------------------------- */

struct ar__program_cache;

/* Returns a kernel object of program `family` (a cl/<family>.cl file, built after the common
 * prelude) compiled with the -D options in `defines` ("" for none). Programs are built once per
 * (family, defines) and cached for the context's lifetime; the kernel is owned by the cache, so
 * do not release it. Build failures return AR_STATUS_KERNEL_BUILD with the full build log. */
enum ar_status ar__kernel(struct ar_ctx *ctx, const char *family, const char *defines,
                          const char *kernel_name, cl_kernel *out);
void ar__program_cache_free(struct ar__program_cache *cache);

/* Enqueues a 1-D or 2-D NDRange. Global sizes are rounded up to a multiple of local sizes, so
 * every kernel must bounds-check its work-item ids. local == NULL lets the driver choose. */
enum ar_status ar__launch(struct ar_ctx *ctx, cl_kernel kernel, const char *name, cl_uint dims,
                          const size_t *global, const size_t *local);

/* Sets kernel arguments from a list of (size, pointer) pairs; reports the failing index. */
enum ar_status ar__set_args(struct ar_ctx *ctx, cl_kernel kernel, const char *name, int count,
                            const size_t *sizes, const void *const *values);

/* Sets `count` arguments given as AR__ARG(x) pairs:
 *     ar__args(ctx, k, "name", 2, AR__ARG(buf), AR__ARG(n)); */
#define AR__ARG(v) sizeof(v), &(v)
enum ar_status ar__args(struct ar_ctx *ctx, cl_kernel kernel, const char *name, int count, ...);

/* Embedded sources (generated at build time from cl/ by cl/embed.py). */
struct ar__embedded_file {
    const char *name; /* file name without directory, e.g. "lora.cl" */
    const unsigned char *data;
    size_t size;
};
extern const struct ar__embedded_file ar__cl_files[];
extern const size_t ar__cl_files_count;
extern const struct ar__embedded_file ar__data_files[]; /* the data/clblast/ tables */
extern const size_t ar__data_files_count;

/* ---- the context (context.c) ------------------------------------------------------------ */

struct ar_ctx {
    struct ar_device_info info;
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    struct ar__program_cache *programs;
    char *kernel_dir; /* NULL: embedded sources */
    char *tuning_dir;
    char *tuning_source; /* name of the applied CLBlast table, NULL when none */
    ar_log_fn log;
    void *log_user;
    char *errmsg;
    size_t errmsg_len, errmsg_cap;
    struct ar__mem_stats *mem_stats; /* device bytes allocated (memory.c), created on first use */
    struct ar_mem gemm_scratch[3];   /* batched A, B, C moved to offset 0 (blas.c), grown on use */
    size_t gemm_scratch_floats[3];
    /* Host-side blocking of ar_gemm, from a "GemmBlocking" table (tuning.c); 0: off. A product
     * with n > gemm_n_block and n·k >= gemm_block_min_nk runs as column blocks of C. */
    size_t gemm_n_block, gemm_block_min_nk;
    struct ar__profile *profile; /* per-operation timing (profile.c); NULL until first enabled */
};

/* Per-operation timing (profile.c): t0 = ar__profile_begin(ctx) before enqueuing an operation,
 * ar__profile_end(ctx, t0, name) after it, on every path. Both are no-ops while profiling is
 * off; a pair nested in another is charged to its own name, not to the outer one. */
double ar__profile_begin(struct ar_ctx *ctx);
void ar__profile_end(struct ar_ctx *ctx, double t0, const char *name);
void ar__profile_free(struct ar__profile *p);

/* The "kernel" of adarank's own tuning table kind, read by tuning.c instead of CLBlast. */
#define AR__GEMM_BLOCKING_TABLE "GemmBlocking"


/* Drops the context's reference to its allocation counters (memory.c); ar_ctx_free calls it.
 * Buffers still alive keep the counters alive until OpenCL frees them. */
void ar__mem_stats_release(struct ar__mem_stats *stats);

/* The cl ids of entry `index` of ar_device_list (devices.c). */
enum ar_status ar__device_ids(int index, cl_platform_id *platform, cl_device_id *device, char *err,
                              size_t err_size);

/* ---- CLBlast tuning (tuning.c) ---------------------------------------------------------- */

/* Finds a parameter table for the context's device (user tables first, then the embedded
 * data/clblast tables) and applies it with CLBlastOverrideParameters. No table is not an error. */
enum ar_status ar__tuning_apply(struct ar_ctx *ctx);

#endif

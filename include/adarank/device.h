/* OpenCL devices and the adarank context.
 *
 * A context binds one OpenCL device: its cl_context, one in-order command queue, the programs
 * built for it (cached in memory), the CLBlast parameters applied to it and the last error
 * message. Everything that touches a device takes a context. Not thread-safe: use one context per
 * host thread (CLBlast 1.5.3 is only reliable when called from one thread).
 */
#ifndef ADARANK_DEVICE_H
#define ADARANK_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ar_device_type {
    AR_DEVICE_TYPE_OTHER,
    AR_DEVICE_TYPE_CPU,
    AR_DEVICE_TYPE_GPU,
    AR_DEVICE_TYPE_ACCELERATOR,
};

const char *ar_device_type_name(enum ar_device_type type);

struct ar_device_info {
    int index;          /* position in the flat list over all platforms: what --device N means */
    int platform_index; /* position of its platform */
    char platform_name[128];
    char name[128];
    char vendor[128];
    char version[128];   /* CL_DEVICE_VERSION */
    char c_version[128]; /* CL_DEVICE_OPENCL_C_VERSION */
    char driver[128];
    enum ar_device_type type;
    unsigned compute_units;
    uint64_t global_mem_bytes;
    uint64_t max_alloc_bytes;
    uint64_t local_mem_bytes;
    size_t max_work_group_size;
    bool fp16;
    bool fp64;
};

/* Every device of every platform, in platform order. On success *out (free with free()) holds
 * *count entries; zero devices is not an error. On failure the reason is written to err. */
enum ar_status ar_device_list(struct ar_device_info **out, int *count, char *err, size_t err_size);

/* Picks a device from a list: `selector` is a decimal index into the list or a case-insensitive
 * substring of "platform name / device name"; NULL or "" means the first GPU, else the first
 * device. Returns the list position or -1 (err explains, naming the choices). */
int ar_device_select(const struct ar_device_info *list, int count, const char *selector, char *err,
                     size_t err_size);

enum ar_log_level { AR_LOG_DEBUG, AR_LOG_INFO, AR_LOG_WARN, AR_LOG_ERROR };
typedef void (*ar_log_fn)(enum ar_log_level level, const char *message, void *user);

struct ar_ctx_params {
    const char *device;     /* see ar_device_select; NULL: $ADARANK_DEVICE, then the default */
    const char *kernel_dir; /* load cl/ sources from here; NULL: $ADARANK_CL_DIR, then embedded */
    const char *tuning_dir; /* extra CLBlast tables (from `tune`); NULL: $ADARANK_TUNING_DIR,
                               then the per-user cache directory */
    bool apply_tuning;      /* apply a matching CLBlast parameter table (default true) */
    ar_log_fn log;          /* NULL: warnings and errors to stderr */
    void *log_user;
};

struct ar_ctx_params ar_ctx_default_params(void);

struct ar_ctx;

/* Creates a context. Like sqlite3_open, *out is set even on failure (unless memory ran out) so
 * that ar_ctx_errmsg() can explain; always release it with ar_ctx_free(). */
enum ar_status ar_ctx_new(const struct ar_ctx_params *params, struct ar_ctx **out);
void ar_ctx_free(struct ar_ctx *ctx); /* NULL is fine */

/* The message of the last failed call on this context: what failed, where, the raw OpenCL or
 * CLBlast code and, for a failed program build, the full build log. "" when nothing failed. */
const char *ar_ctx_errmsg(const struct ar_ctx *ctx);

const struct ar_device_info *ar_ctx_device(const struct ar_ctx *ctx);
cl_context ar_ctx_cl_context(const struct ar_ctx *ctx);
cl_command_queue ar_ctx_queue(const struct ar_ctx *ctx);
cl_device_id ar_ctx_cl_device(const struct ar_ctx *ctx);
/* The CLBlast table applied to this device, or NULL when it runs on CLBlast's defaults. */
const char *ar_ctx_tuning_source(const struct ar_ctx *ctx);

/* Waits for all queued work; reports an asynchronous device failure as AR_STATUS_OPENCL. */
enum ar_status ar_ctx_finish(struct ar_ctx *ctx);

#ifdef __cplusplus
}
#endif

#endif

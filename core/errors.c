/* Per-context error messages and logging. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The OpenCL 1.2 error codes by name (CL/cl.h); the rest print as CL_UNKNOWN_ERROR + value. */
#define AR__CL_ERROR_TABLE(X)                                                                      \
    X(CL_SUCCESS) X(CL_DEVICE_NOT_FOUND) X(CL_DEVICE_NOT_AVAILABLE) X(CL_COMPILER_NOT_AVAILABLE)   \
    X(CL_MEM_OBJECT_ALLOCATION_FAILURE) X(CL_OUT_OF_RESOURCES) X(CL_OUT_OF_HOST_MEMORY)            \
    X(CL_PROFILING_INFO_NOT_AVAILABLE) X(CL_MEM_COPY_OVERLAP) X(CL_IMAGE_FORMAT_MISMATCH)          \
    X(CL_IMAGE_FORMAT_NOT_SUPPORTED) X(CL_BUILD_PROGRAM_FAILURE) X(CL_MAP_FAILURE)                 \
    X(CL_MISALIGNED_SUB_BUFFER_OFFSET) X(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)             \
    X(CL_COMPILE_PROGRAM_FAILURE) X(CL_LINKER_NOT_AVAILABLE) X(CL_LINK_PROGRAM_FAILURE)            \
    X(CL_DEVICE_PARTITION_FAILED) X(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) X(CL_INVALID_VALUE)          \
    X(CL_INVALID_DEVICE_TYPE) X(CL_INVALID_PLATFORM) X(CL_INVALID_DEVICE) X(CL_INVALID_CONTEXT)    \
    X(CL_INVALID_QUEUE_PROPERTIES) X(CL_INVALID_COMMAND_QUEUE) X(CL_INVALID_HOST_PTR)              \
    X(CL_INVALID_MEM_OBJECT) X(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR) X(CL_INVALID_IMAGE_SIZE)        \
    X(CL_INVALID_SAMPLER) X(CL_INVALID_BINARY) X(CL_INVALID_BUILD_OPTIONS) X(CL_INVALID_PROGRAM)   \
    X(CL_INVALID_PROGRAM_EXECUTABLE) X(CL_INVALID_KERNEL_NAME) X(CL_INVALID_KERNEL_DEFINITION)     \
    X(CL_INVALID_KERNEL) X(CL_INVALID_ARG_INDEX) X(CL_INVALID_ARG_VALUE) X(CL_INVALID_ARG_SIZE)    \
    X(CL_INVALID_KERNEL_ARGS) X(CL_INVALID_WORK_DIMENSION) X(CL_INVALID_WORK_GROUP_SIZE)           \
    X(CL_INVALID_WORK_ITEM_SIZE) X(CL_INVALID_GLOBAL_OFFSET) X(CL_INVALID_EVENT_WAIT_LIST)         \
    X(CL_INVALID_EVENT) X(CL_INVALID_OPERATION) X(CL_INVALID_GL_OBJECT)                            \
    X(CL_INVALID_BUFFER_SIZE) X(CL_INVALID_MIP_LEVEL) X(CL_INVALID_GLOBAL_WORK_SIZE)               \
    X(CL_INVALID_PROPERTY) X(CL_INVALID_IMAGE_DESCRIPTOR) X(CL_INVALID_COMPILER_OPTIONS)           \
    X(CL_INVALID_LINKER_OPTIONS) X(CL_INVALID_DEVICE_PARTITION_COUNT)

const char *ar__cl_error_name(cl_int code)
{
    switch (code) {
#define AR__CL_ERROR_CASE(name)                                                                    \
    case name:                                                                                     \
        return #name;
        AR__CL_ERROR_TABLE(AR__CL_ERROR_CASE)
#undef AR__CL_ERROR_CASE
    default:
        return "CL_UNKNOWN_ERROR";
    }
}

void ar__errmsg_clear(struct ar_ctx *ctx)
{
    if (!ctx)
        return;
    ctx->errmsg_len = 0;
    if (ctx->errmsg)
        ctx->errmsg[0] = '\0';
}

void ar__errmsg_append(struct ar_ctx *ctx, const char *text)
{
    if (!ctx || !text)
        return;
    size_t add = strlen(text);
    if (ctx->errmsg_len + add + 1 > ctx->errmsg_cap) {
        size_t cap = ctx->errmsg_cap ? ctx->errmsg_cap : 256;
        while (cap < ctx->errmsg_len + add + 1)
            cap *= 2;
        char *grown = realloc(ctx->errmsg, cap);
        if (!grown)
            return; /* keep the message we have; out of memory is reported by the caller */
        ctx->errmsg = grown;
        ctx->errmsg_cap = cap;
    }
    memcpy(ctx->errmsg + ctx->errmsg_len, text, add + 1);
    ctx->errmsg_len += add;
}

static void errmsg_vset(struct ar_ctx *ctx, const char *fmt, va_list ap)
{
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    ar__errmsg_clear(ctx);
    ar__errmsg_append(ctx, line);
}

enum ar_status ar__fail(struct ar_ctx *ctx, enum ar_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    errmsg_vset(ctx, fmt, ap);
    va_end(ap);
    return status;
}

enum ar_status ar__fail_cl(struct ar_ctx *ctx, cl_int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    errmsg_vset(ctx, fmt, ap);
    va_end(ap);
    char tail[96];
    snprintf(tail, sizeof tail, ": %s (%d)", ar__cl_error_name(code), (int)code);
    ar__errmsg_append(ctx, tail);
    if (code == CL_OUT_OF_HOST_MEMORY || code == CL_MEM_OBJECT_ALLOCATION_FAILURE)
        return AR_STATUS_OUT_OF_MEMORY;
    return AR_STATUS_OPENCL;
}

const char *ar_ctx_errmsg(const struct ar_ctx *ctx)
{
    if (!ctx)
        return "no context (out of memory)";
    return ctx->errmsg ? ctx->errmsg : "";
}

static const char *level_name(enum ar_log_level level)
{
    switch (level) {
    case AR_LOG_DEBUG:
        return "debug";
    case AR_LOG_INFO:
        return "info";
    case AR_LOG_WARN:
        return "warning";
    default:
        return "error";
    }
}

void ar__log(const struct ar_ctx *ctx, enum ar_log_level level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (ctx && ctx->log) {
        ctx->log(level, line, ctx->log_user);
        return;
    }
    if (level >= AR_LOG_WARN)
        fprintf(stderr, "adarank: %s: %s\n", level_name(level), line);
}

enum ar_status ar__fail_buf(char *err, size_t err_size, enum ar_status status, const char *fmt, ...)
{
    if (err && err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return status;
}

/* Status codes returned by every fallible adarank function.
 *
 * One X-macro table generates the enum, its short name and its message, so the three can never
 * drift apart. Codes are appended only: their numeric values are part of the ABI and of the CLI's
 * exit-code mapping. The detailed, per-call message (raw OpenCL/CLBlast code, file and line of bad
 * input, the full program build log) is kept per context: see ar_ctx_errmsg().
 */
#ifndef ADARANK_STATUS_H
#define ADARANK_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(NAME, message) */
#define AR_STATUS_TABLE(X)                                                                         \
    X(OK, "success")                                                                               \
    X(INVALID_ARGUMENT, "invalid argument")                                                        \
    X(SHAPE_MISMATCH, "tensor shapes do not match")                                                \
    X(NO_DEVICE, "no matching OpenCL device")                                                      \
    X(OPENCL, "OpenCL call failed")                                                                \
    X(KERNEL_BUILD, "OpenCL program failed to build")                                              \
    X(CLBLAST, "CLBlast call failed")                                                              \
    X(OUT_OF_MEMORY, "out of memory")                                                              \
    X(IO, "file input/output failed")                                                              \
    X(BAD_FORMAT, "malformed input file")                                                          \
    X(UNSUPPORTED, "not supported")                                                                \
    X(INTERRUPTED, "interrupted")                                                                  \
    X(NOT_FOUND, "not found")

enum ar_status {
#define AR_STATUS_ENUM(name, msg) AR_STATUS_##name,
    AR_STATUS_TABLE(AR_STATUS_ENUM)
#undef AR_STATUS_ENUM
        AR_STATUS_COUNT
};

/* "AR_STATUS_SHAPE_MISMATCH" -> "SHAPE_MISMATCH"; never NULL, even for out-of-range values. */
const char *ar_status_name(enum ar_status status);
/* A one-line human description of the status class; never NULL. */
const char *ar_status_message(enum ar_status status);

#ifdef __cplusplus
}
#endif

#endif

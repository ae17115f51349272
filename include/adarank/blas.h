/* Matrix products. Every GEMM of adarank goes through here, and from here through CLBlast.
 *
 * Row-major throughout (the layout of PyTorch and of safetensors):
 *     C (m, n) = alpha · op(A) · op(B) + beta · C
 * with op(A) (m, k) and op(B) (k, n); lda/ldb/ldc are row strides in floats of the matrices as
 * stored (so A stored (k, m) when trans_a). Each call is enqueued on the context's queue.
 */
#ifndef ADARANK_BLAS_H
#define ADARANK_BLAS_H

#include "memory.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ar_status ar_gemm(struct ar_ctx *ctx, bool trans_a, bool trans_b, size_t m, size_t n, size_t k,
                       float alpha, struct ar_mem a, size_t lda, struct ar_mem b, size_t ldb,
                       float beta, struct ar_mem c, size_t ldc);

/* `batch` products; operand i starts stride_x floats after operand i-1. */
enum ar_status ar_gemm_strided_batched(struct ar_ctx *ctx, bool trans_a, bool trans_b, size_t m,
                                       size_t n, size_t k, float alpha, struct ar_mem a,
                                       size_t lda, size_t stride_a, struct ar_mem b, size_t ldb,
                                       size_t stride_b, float beta, struct ar_mem c, size_t ldc,
                                       size_t stride_c, size_t batch);

/* Host-side blocking of ar_gemm on this context: a product with n > n_block and n·k >= min_nk
 * runs as column blocks of C, n_block wide (each a whole product over k, so the sums are the
 * same). n_block 0 turns it off. A context starts with what the device's GemmBlocking table says
 * (tuning.h), or off; `adarank-cl tune --kernels blocking` measures the values for a device. */
void ar_gemm_set_blocking(struct ar_ctx *ctx, size_t n_block, size_t min_nk);

/* Runs products of awkward and of the engine's own sizes (plain, transposed, batched) on the
 * device and compares them with a host reference: AR_STATUS_CLBLAST naming the first wrong one,
 * which means a CLBlast parameter table applied to this device computes wrong results. Takes
 * about a second on a CPU device. */
enum ar_status ar_gemm_self_check(struct ar_ctx *ctx);

#ifdef __cplusplus
}
#endif

#endif

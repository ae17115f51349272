/* Every matrix product of adarank, through CLBlast's C API.
 *
 * Shapes are checked here once, so a wrong shape anywhere in the engine becomes a clear
 * AR_STATUS_SHAPE_MISMATCH naming the operands instead of a CLBlast error code. */
#include <clblast_c.h>

#include "internal.h"

static enum ar_status clblast_fail(struct ar_ctx *ctx, CLBlastStatusCode code, const char *what,
                                   size_t m, size_t n, size_t k)
{
    return ar__fail(ctx, AR_STATUS_CLBLAST, "%s (m=%zu n=%zu k=%zu) on %s: CLBlast status %d", what,
                    m, n, k, ctx->info.name, (int)code);
}

/* Row-major operand (rows, cols) stored with leading dimension ld must have ld >= cols. */
static bool ld_ok(size_t cols, size_t ld)
{
    return ld >= (cols ? cols : 1);
}

static enum ar_status check_gemm(struct ar_ctx *ctx, const char *what, bool ta, bool tb, size_t m,
                                 size_t n, size_t k, size_t lda, size_t ldb, size_t ldc)
{
    size_t a_cols = ta ? m : k, b_cols = tb ? k : n;
    if (!ld_ok(a_cols, lda) || !ld_ok(b_cols, ldb) || !ld_ok(n, ldc))
        return ar__fail(ctx, AR_STATUS_SHAPE_MISMATCH,
                        "%s: leading dimensions too small for m=%zu n=%zu k=%zu (lda=%zu needs "
                        ">=%zu, ldb=%zu needs >=%zu, ldc=%zu needs >=%zu)",
                        what, m, n, k, lda, a_cols, ldb, b_cols, ldc, n);
    return AR_STATUS_OK;
}

enum ar_status ar_gemm(struct ar_ctx *ctx, bool trans_a, bool trans_b, size_t m, size_t n, size_t k,
                       float alpha, struct ar_mem a, size_t lda, struct ar_mem b, size_t ldb,
                       float beta, struct ar_mem c, size_t ldc)
{
    enum ar_status st = check_gemm(ctx, "gemm", trans_a, trans_b, m, n, k, lda, ldb, ldc);
    if (st != AR_STATUS_OK || m == 0 || n == 0)
        return st;
    CLBlastStatusCode rc = CLBlastSgemm(
        CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
        trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, a.buf, a.off, lda,
        b.buf, b.off, ldb, beta, c.buf, c.off, ldc, &ctx->queue, NULL);
    if (rc != CLBlastSuccess)
        return clblast_fail(ctx, rc, "CLBlastSgemm", m, n, k);
    return AR_STATUS_OK;
}

enum ar_status ar_gemm_strided_batched(struct ar_ctx *ctx, bool trans_a, bool trans_b, size_t m,
                                       size_t n, size_t k, float alpha, struct ar_mem a,
                                       size_t lda, size_t stride_a, struct ar_mem b, size_t ldb,
                                       size_t stride_b, float beta, struct ar_mem c, size_t ldc,
                                       size_t stride_c, size_t batch)
{
    enum ar_status st =
        check_gemm(ctx, "strided batched gemm", trans_a, trans_b, m, n, k, lda, ldb, ldc);
    if (st != AR_STATUS_OK || m == 0 || n == 0 || batch == 0)
        return st;
    if (batch == 1)
        return ar_gemm(ctx, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    CLBlastStatusCode rc = CLBlastSgemmStridedBatched(
        CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
        trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, a.buf, a.off, lda,
        stride_a, b.buf, b.off, ldb, stride_b, beta, c.buf, c.off, ldc, stride_c, batch,
        &ctx->queue, NULL);
    if (rc != CLBlastSuccess)
        return clblast_fail(ctx, rc, "CLBlastSgemmStridedBatched", m, n, k);
    return AR_STATUS_OK;
}

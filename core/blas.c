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

/* CLBlast 1.5.3's strided-batched GEMM computes wrong products when a matrix starts at a non-zero
 * buffer offset. On PoCL's CPU device: NN with B at an offset (128x64x128 per entry) and TN with A
 * or B at an offset (128x32x128) with every Xgemm table tried, and any operand or C at an offset
 * with a GEMMK=1 table, errors as large as the entries; offset-0 matrices, the non-batched routine
 * and the XgemmDirect path were exact. The engine's matrices are views into larger buffers
 * (activations, the q/k/v thirds of the attention heads), so a batched call moves every matrix at
 * an offset to a scratch buffer at offset 0 (`which`: 0 A, 1 B, 2 C), and C back afterwards.
 * Cost: device copies of those matrices, small against the products; ar_gemm_self_check covers
 * the case. */
static enum ar_status scratch_for(struct ar_ctx *ctx, int which, size_t floats, struct ar_mem *out)
{
    if (ctx->gemm_scratch_floats[which] < floats) {
        ar_mem_release(&ctx->gemm_scratch[which]);
        ctx->gemm_scratch_floats[which] = 0;
        enum ar_status st = ar_mem_alloc(ctx, floats, &ctx->gemm_scratch[which]);
        if (st != AR_STATUS_OK) return st;
        ctx->gemm_scratch_floats[which] = floats;
    }
    *out = ctx->gemm_scratch[which];
    return AR_STATUS_OK;
}

static enum ar_status copy(struct ar_ctx *ctx, struct ar_mem from, struct ar_mem to, size_t floats)
{
    cl_int rc = clEnqueueCopyBuffer(ctx->queue, from.buf, to.buf, from.off * sizeof(float),
                                    to.off * sizeof(float), floats * sizeof(float), 0, NULL, NULL);
    return rc == CL_SUCCESS ? AR_STATUS_OK
                            : ar__fail_cl(ctx, rc, "strided batched gemm: moving a %zu-float matrix "
                                                   "to or from offset 0", floats);
}

/* Floats spanned by `batch` (rows, cols) matrices with row stride ld, `stride` apart. */
static size_t extent(size_t rows, size_t cols, size_t ld, size_t stride, size_t batch)
{
    return (batch - 1) * stride + (rows - 1) * ld + cols;
}

/* x moved to scratch `which` at offset 0 (its contents copied when `load`); *moved tells. */
static enum ar_status at_offset_zero(struct ar_ctx *ctx, int which, struct ar_mem *x,
                                     size_t floats, bool load, bool *moved)
{
    *moved = x->off != 0;
    if (!*moved) return AR_STATUS_OK;
    struct ar_mem to;
    enum ar_status st = scratch_for(ctx, which, floats, &to);
    if (st == AR_STATUS_OK && load) st = copy(ctx, *x, to, floats);
    if (st == AR_STATUS_OK) *x = to;
    return st;
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
    bool moved_a = false, moved_b = false, moved_c = false;
    struct ar_mem c_out = c;
    size_t c_floats = extent(m, n, ldc, stride_c, batch);
    if (k > 0) /* k = 0 reads neither operand: C = beta·C */
        st = at_offset_zero(ctx, 0, &a,
                            extent(trans_a ? k : m, trans_a ? m : k, lda, stride_a, batch), true,
                            &moved_a);
    if (st == AR_STATUS_OK && k > 0)
        st = at_offset_zero(ctx, 1, &b,
                            extent(trans_b ? n : k, trans_b ? k : n, ldb, stride_b, batch), true,
                            &moved_b);
    /* C is loaded even when beta = 0: the copy back covers its whole span, gaps included. */
    if (st == AR_STATUS_OK) st = at_offset_zero(ctx, 2, &c, c_floats, true, &moved_c);
    if (st != AR_STATUS_OK)
        return st;
    CLBlastStatusCode rc = CLBlastSgemmStridedBatched(
        CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
        trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, a.buf, a.off, lda,
        stride_a, b.buf, b.off, ldb, stride_b, beta, c.buf, c.off, ldc, stride_c, batch,
        &ctx->queue, NULL);
    if (rc != CLBlastSuccess)
        return clblast_fail(ctx, rc, "CLBlastSgemmStridedBatched", m, n, k);
    return moved_c ? copy(ctx, c, c_out, c_floats) : AR_STATUS_OK;
}

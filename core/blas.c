/* Every matrix product of adarank, through CLBlast's C API.
 *
 * Shapes are checked here once, so a wrong shape anywhere in the engine becomes a clear
 * AR_STATUS_SHAPE_MISMATCH naming the operands instead of a CLBlast error code. */
#include "internal.h" /* first: it sets CL_TARGET_OPENCL_VERSION for clblast_c.h */

#include <stdio.h>

#include <clblast_c.h>

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

static enum ar_status sgemm(struct ar_ctx *ctx, bool trans_a, bool trans_b, size_t m, size_t n,
                            size_t k, float alpha, struct ar_mem a, size_t lda, struct ar_mem b,
                            size_t ldb, float beta, struct ar_mem c, size_t ldc)
{
    CLBlastStatusCode rc = CLBlastSgemm(
        CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
        trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, a.buf, a.off, lda,
        b.buf, b.off, ldb, beta, c.buf, c.off, ldc, &ctx->queue, NULL);
    if (rc != CLBlastSuccess)
        return clblast_fail(ctx, rc, "CLBlastSgemm", m, n, k);
    return AR_STATUS_OK;
}

/* A product whose op(B) is large runs as column blocks of C, (m, n_block) each, when the
 * device's GemmBlocking table asks for it: each call then copies and transposes a slice of B
 * small enough to stay in cache for the Xgemm kernel that reads it. On PoCL's CPU device with an
 * Xgemm table of 8x8 work-items this took the products with a 3072-long dimension from
 * 0.28-0.41x OpenBLAS to 0.39-0.63x; with the 4x8 work-items shipped since, one call is as fast,
 * and that table turns blocking off (docs/performance.md). Small products get slower in blocks,
 * hence the table's threshold. Each block is a whole product (all of k), so every element is
 * the same sum as without blocks. */
static enum ar_status gemm_blocks(struct ar_ctx *ctx, bool trans_a, bool trans_b, size_t m,
                                  size_t n, size_t k, float alpha, struct ar_mem a, size_t lda,
                                  struct ar_mem b, size_t ldb, float beta, struct ar_mem c,
                                  size_t ldc)
{
    enum ar_status st = AR_STATUS_OK;
    size_t nb = ctx->gemm_n_block;
    if (nb == 0 || n <= nb || n * k < ctx->gemm_block_min_nk)
        return sgemm(ctx, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    for (size_t j = 0; j < n && st == AR_STATUS_OK; j += nb) {
        size_t w = n - j < nb ? n - j : nb;
        /* op(B)'s columns j.. are B's rows j.. when B is stored transposed (n, k). */
        struct ar_mem bj = ar_mem_at(b, trans_b ? j * ldb : j);
        st = sgemm(ctx, trans_a, trans_b, m, w, k, alpha, a, lda, bj, ldb, beta, ar_mem_at(c, j),
                   ldc);
    }
    return st;
}

void ar_gemm_set_blocking(struct ar_ctx *ctx, size_t n_block, size_t min_nk)
{
    ctx->gemm_n_block = n_block;
    ctx->gemm_block_min_nk = min_nk;
}

/* Ends a product's profiled span (profile.h), named by kind and shape: "gemm NT 2048x1152x384",
 * "gemm batched TN 128x32x128 x192". The name is only made while profiling. */
static void profile_end_product(struct ar_ctx *ctx, double t0, const char *kind, bool ta, bool tb,
                                size_t m, size_t n, size_t k, size_t batch)
{
    char name[96] = "";
    if (t0 >= 0) {
        int len = snprintf(name, sizeof name, "%s %c%c %zux%zux%zu", kind, ta ? 'T' : 'N',
                           tb ? 'T' : 'N', m, n, k);
        if (batch > 1 && len > 0 && (size_t)len < sizeof name)
            snprintf(name + len, sizeof name - (size_t)len, " x%zu", batch);
    }
    ar__profile_end(ctx, t0, name);
}

enum ar_status ar_gemm(struct ar_ctx *ctx, bool trans_a, bool trans_b, size_t m, size_t n, size_t k,
                       float alpha, struct ar_mem a, size_t lda, struct ar_mem b, size_t ldb,
                       float beta, struct ar_mem c, size_t ldc)
{
    enum ar_status st = check_gemm(ctx, "gemm", trans_a, trans_b, m, n, k, lda, ldb, ldc);
    if (st != AR_STATUS_OK || m == 0 || n == 0)
        return st;
    double t0 = ar__profile_begin(ctx);
    st = gemm_blocks(ctx, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    profile_end_product(ctx, t0, "gemm", trans_a, trans_b, m, n, k, 1);
    return st;
}

/* CLBlast 1.5.3's strided-batched GEMM computes wrong products unless its matrices are packed:
 * each entry (rows, cols) with ld = cols, entries back to back from offset 0. On PoCL's CPU
 * device, with every Xgemm table tried, NN with B at a buffer offset (128x64x128 per entry) and
 * TN with A or B at an offset (128x32x128) gave errors as large as the entries; with GEMMK=1
 * tables also any matrix at an offset, and C in the LoRA layer's interleaved layout (members side
 * by side: ld = batch·cols, stride = cols). Packed matrices, the non-batched routine and the
 * XgemmDirect path were exact. The engine's matrices are views (activations, the q/k/v thirds of
 * the attention heads, interleaved LoRA groups), so a batched call packs every matrix that is
 * not, into one of three scratch buffers (`which`: 0 A, 1 B, 2 C), and unpacks C afterwards.
 * Cost: device copies of those matrices, small against the products; ar_gemm_self_check runs
 * both kinds of view. */
struct view {
    struct ar_mem mem;
    size_t rows, cols, ld, stride;
};

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

static bool packed(const struct view *v)
{
    return v->ld == v->cols && v->stride == v->rows * v->cols;
}

/* Copies `batch` entries between a view and its packed form (to_packed picks the direction),
 * whose entries are (rows_p, cols_p) with rows_p >= rows and cols_p >= cols (the zero padding of
 * k, see packed_batched; the padding itself is not copied): one copy when the view is only
 * offset and nothing is padded, else one rectangle per entry. */
static enum ar_status transfer(struct ar_ctx *ctx, const struct view *v, struct ar_mem pack,
                               size_t rows_p, size_t cols_p, size_t batch, bool to_packed)
{
    const size_t f = sizeof(float);
    cl_int rc = CL_SUCCESS;
    double t0 = ar__profile_begin(ctx);
    bool one_copy = packed(v) && rows_p == v->rows && cols_p == v->cols;
    if (one_copy) {
        size_t bytes = batch * v->rows * v->cols * f;
        rc = to_packed ? clEnqueueCopyBuffer(ctx->queue, v->mem.buf, pack.buf, v->mem.off * f,
                                             pack.off * f, bytes, 0, NULL, NULL)
                       : clEnqueueCopyBuffer(ctx->queue, pack.buf, v->mem.buf, pack.off * f,
                                             v->mem.off * f, bytes, 0, NULL, NULL);
    }
    for (size_t e = 0; !one_copy && rc == CL_SUCCESS && e < batch; e++) {
        size_t at_view[3] = {(v->mem.off + e * v->stride) * f, 0, 0};
        size_t at_pack[3] = {(pack.off + e * rows_p * cols_p) * f, 0, 0};
        size_t region[3] = {v->cols * f, v->rows, 1};
        rc = to_packed ? clEnqueueCopyBufferRect(ctx->queue, v->mem.buf, pack.buf, at_view,
                                                 at_pack, region, v->ld * f, 0, cols_p * f, 0, 0,
                                                 NULL, NULL)
                       : clEnqueueCopyBufferRect(ctx->queue, pack.buf, v->mem.buf, at_pack,
                                                 at_view, region, cols_p * f, 0, v->ld * f, 0, 0,
                                                 NULL, NULL);
    }
    ar__profile_end(ctx, t0, to_packed ? "gemm batched: packing views" : "gemm batched: unpacking C");
    return rc == CL_SUCCESS ? AR_STATUS_OK
                            : ar__fail_cl(ctx, rc, "strided batched gemm: %s a %zux%zu matrix "
                                                   "(ld %zu, stride %zu, %zu entries)",
                                          to_packed ? "packing" : "unpacking", v->rows, v->cols,
                                          v->ld, v->stride, batch);
}

/* v packed into scratch `which` as entries of (rows_p, cols_p), zero beyond its own rows and
 * columns (its contents copied when `load`); a packed, unpadded view at offset 0 stays as is. */
static enum ar_status pack(struct ar_ctx *ctx, int which, struct view *v, size_t batch, bool load,
                           size_t rows_p, size_t cols_p)
{
    bool padded = rows_p != v->rows || cols_p != v->cols;
    if (v->mem.off == 0 && packed(v) && !padded) return AR_STATUS_OK;
    struct ar_mem to;
    enum ar_status st = scratch_for(ctx, which, batch * rows_p * cols_p, &to);
    if (st == AR_STATUS_OK && padded) st = ar_mem_fill(ctx, to, 0.0f, batch * rows_p * cols_p);
    if (st == AR_STATUS_OK && load) st = transfer(ctx, v, to, rows_p, cols_p, batch, true);
    if (st == AR_STATUS_OK) *v = (struct view){to, rows_p, cols_p, cols_p, rows_p * cols_p};
    return st;
}

/* CLBlast 1.5.3's strided-batched routine also computes wrong products, on PoCL's CPU device with
 * the shipped Xgemm table, when k is not a multiple of 8: errors of order 1 to 1e36 for k = 2..7,
 * 12, 100 and 101 (m, n from 64 to 512; k = 8, 16, 24, 32, 104, 128 exact). The engine meets
 * such k as a LoRA rank (4), a batch's row count (the dB and dA reductions) and a sequence
 * length (attention's P·v and its gradients). The non-batched routine was exact on all of them.
 * So A and B go to the routine with k padded by zeros to a multiple of 8, which leaves every
 * product unchanged; ar_gemm_self_check covers it. */
#define BATCHED_K_MULTIPLE 8

static enum ar_status packed_batched(struct ar_ctx *ctx, bool trans_a, bool trans_b, size_t m,
                                     size_t n, size_t k, float alpha, struct ar_mem a, size_t lda,
                                     size_t stride_a, struct ar_mem b, size_t ldb, size_t stride_b,
                                     float beta, struct ar_mem c, size_t ldc, size_t stride_c,
                                     size_t batch)
{
    enum ar_status st = AR_STATUS_OK;
    size_t kp = (k + BATCHED_K_MULTIPLE - 1) / BATCHED_K_MULTIPLE * BATCHED_K_MULTIPLE;
    struct view va = {a, trans_a ? k : m, trans_a ? m : k, lda, stride_a};
    struct view vb = {b, trans_b ? n : k, trans_b ? k : n, ldb, stride_b};
    struct view vc = {c, m, n, ldc, stride_c}, c_out = vc;
    if (k > 0) /* k = 0 reads neither operand: C = beta·C */
        st = pack(ctx, 0, &va, batch, true, trans_a ? kp : m, trans_a ? m : kp);
    if (st == AR_STATUS_OK && k > 0)
        st = pack(ctx, 1, &vb, batch, true, trans_b ? n : kp, trans_b ? kp : n);
    if (st == AR_STATUS_OK) st = pack(ctx, 2, &vc, batch, beta != 0.0f, m, n);
    if (st != AR_STATUS_OK)
        return st;
    a = va.mem, lda = va.ld, stride_a = va.stride;
    b = vb.mem, ldb = vb.ld, stride_b = vb.stride;
    c = vc.mem, ldc = vc.ld, stride_c = vc.stride;
    CLBlastStatusCode rc = CLBlastSgemmStridedBatched(
        CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
        trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, kp, alpha, a.buf, a.off, lda,
        stride_a, b.buf, b.off, ldb, stride_b, beta, c.buf, c.off, ldc, stride_c, batch,
        &ctx->queue, NULL);
    if (rc != CLBlastSuccess)
        return clblast_fail(ctx, rc, "CLBlastSgemmStridedBatched", m, n, k);
    bool c_moved = c.buf != c_out.mem.buf; /* packed into the scratch buffer */
    return c_moved ? transfer(ctx, &c_out, c, m, n, batch, false) : AR_STATUS_OK;
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
    double t0 = ar__profile_begin(ctx);
    st = packed_batched(ctx, trans_a, trans_b, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b,
                        beta, c, ldc, stride_c, batch);
    profile_end_product(ctx, t0, "gemm batched", trans_a, trans_b, m, n, k, batch);
    return st;
}

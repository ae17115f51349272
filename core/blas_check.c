/* A self-check of the device's matrix products against a host reference.
 *
 * CLBlast's kernels are compiled by the OpenCL driver with the parameters of the applied tuning
 * tables, and not every compiled configuration is correct. On PoCL 3.1's CPU device, some
 * GEMMK=1 Xgemm configurations that CLBlast's own tuner accepts (it validates one square
 * product) return garbage (1e32) on 512x768x3072 while small awkward products stay exact, and
 * the batched routine mishandles operands at buffer offsets and k not a multiple of 8 (see
 * blas.c). So the check covers six kinds of product, each through ar_gemm or
 * ar_gemm_strided_batched as the engine calls them:
 *   - awkward sizes (not multiples of any tile) in NN, NT and TN, at a non-zero offset;
 *   - the engine's own sizes: a 768-wide layer on 512 tokens and its rank-8 LoRA factors;
 *   - the batched attention products (24 heads of 128x128x32 scores, 128x32x128 context, and
 *     the TN 128x32x128 of the backward's dV and dK);
 *   - the LoRA layer's batched products in its interleaved layout, small and 768 wide;
 *   - batched products whose k is not a multiple of 8 (see blas.c);
 *   - two products large enough to run as column blocks where the device blocks them.
 * Large products are compared on a 1-in-7 lattice of their entries (every row and column is
 * hit, so a wrong tile cannot hide), small ones everywhere. Tolerance: 1e-3 of the largest
 * reference entry, far above float32 rounding over k <= 3072 terms (about 1e-5 here) and far
 * below the errors of a broken configuration (order 1 or more).
 *
 * Passing is evidence, not proof: a GEMMK=1 table passed an earlier version of this check and
 * still computed wrong products on the small batched shapes of tests/test_lora.c (now in the
 * list), so a table is shipped only after the whole test suite passes with it.
 */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

/* Batch entries are either stored one after the other (ld = cols, stride = rows·cols) or, for
 * the matrices whose bit is set in `inter` (1 A, 2 B, 4 C), interleaved as column blocks of one
 * wide matrix (ld = batch·cols, stride = cols): the LoRA layer's layout, where the members of a
 * q,k,v group share rows and sit side by side. */
struct product {
    bool ta, tb;
    size_t m, n, k, batch;
    unsigned inter;
};

#define IA 1u
#define IB 2u
#define IC 4u

static const struct product products[] = {
    {false, false, 67, 45, 129, 1, 0},   {false, true, 67, 45, 129, 1, 0},
    {true, false, 67, 45, 129, 1, 0},    {false, false, 200, 130, 64, 1, 0},
    {false, true, 200, 130, 64, 1, 0},   {true, false, 200, 130, 64, 1, 0},
    {false, true, 128, 8, 96, 1, 0},     {true, false, 8, 96, 128, 1, 0},
    {false, false, 1, 1, 1, 1, 0},       {false, true, 512, 768, 768, 1, 0},
    {false, false, 512, 768, 768, 1, 0}, {true, false, 768, 768, 512, 1, 0},
    {false, true, 512, 8, 768, 1, 0},    {false, true, 512, 768, 8, 1, 0},
    {true, false, 8, 768, 512, 1, 0},    {false, true, 128, 128, 32, 24, 0},
    {false, false, 128, 32, 128, 24, 0}, {true, false, 128, 32, 128, 24, 0},
    /* Batched with k not a multiple of 8 (blas.c pads it): a rank-4 LoRA group's Y += V·Bᵀ
     * and its dB over an odd row count, and attention over 100 positions (P·v, dK's Pᵀ form). */
    {false, true, 512, 384, 4, 3, 0},   {true, false, 384, 8, 189, 3, 0},
    {false, false, 100, 32, 100, 6, 0}, {true, false, 32, 100, 100, 6, 0},
    /* Wide and long enough for a device's GemmBlocking table (blas.c) to split them into
     * column blocks, with a ragged last block: 1100 columns, n·k = 1.1 M floats. */
    {false, true, 64, 1100, 1000, 1, 0}, {false, false, 64, 1100, 1000, 1, 0},
    /* The LoRA layer's six batched products (lora.c, lora_backward.c), on a group of 3 small
     * awkward members (9 rows, in 13, out 11, rank 4) and on a 768-wide group of rank 8. */
    {false, true, 9, 4, 13, 3, IC},      {false, true, 9, 11, 4, 3, IA | IC},
    {true, false, 11, 4, 9, 3, IA | IB}, {false, false, 9, 4, 11, 3, IA | IC},
    {true, false, 4, 13, 9, 3, IA},      {false, false, 9, 13, 4, 3, IA},
    {false, true, 512, 8, 768, 3, IC},   {true, false, 768, 8, 512, 3, IA | IB},
};

#define OFFSET 3 /* floats: operands never start on an aligned boundary */

/* One batched matrix as stored: (rows, cols) per entry in `batch` entries. */
struct stored {
    size_t rows, cols, ld, stride;
};

static struct stored layout(size_t rows, size_t cols, size_t batch, bool interleaved)
{
    return (struct stored){rows, cols, interleaved ? batch * cols : cols,
                           interleaved ? cols : rows * cols};
}

static size_t max_floats(void)
{
    size_t most = 0;
    for (size_t i = 0; i < sizeof products / sizeof products[0]; i++) {
        const struct product *p = &products[i];
        size_t a = p->m * p->k, b = p->k * p->n, c = p->m * p->n;
        size_t big = a > b ? a : b;
        big = big > c ? big : c;
        if (big * p->batch > most) most = big * p->batch;
    }
    return most + OFFSET;
}

/* Deterministic values in [-1, 1) with no structure a wrong index could reproduce. */
static void fill(float *x, size_t count, size_t seed)
{
    for (size_t i = 0; i < count; i++)
        x[i] = (float)(((i + seed) * 7919u + seed * 104729u) % 2001u) / 1000.0f - 1.0f;
}

static float at(const float *x, struct stored s, size_t entry, size_t r, size_t c)
{
    return x[entry * s.stride + r * s.ld + c];
}

/* Largest |C - op(A)·op(B)| over the checked entries of product `entry`, and the scale. */
static void compare(const struct product *p, struct stored la, struct stored lb,
                    struct stored lc, const float *a, const float *b, const float *c,
                    size_t entry, double *diff, double *scale)
{
    bool lattice = p->m * p->n * p->k > 1000000;
    for (size_t i = 0; i < p->m; i++)
        for (size_t j = 0; j < p->n; j++) {
            if (lattice && (i + 3 * j) % 7 != 0) continue;
            double ref = 0;
            for (size_t l = 0; l < p->k; l++)
                ref += (double)(p->ta ? at(a, la, entry, l, i) : at(a, la, entry, i, l)) *
                       (p->tb ? at(b, lb, entry, j, l) : at(b, lb, entry, l, j));
            *diff = fmax(*diff, fabs(ref - at(c, lc, entry, i, j)));
            *scale = fmax(*scale, fabs(ref));
        }
}

static enum ar_status check_one(struct ar_ctx *ctx, const struct product *p, struct ar_mem da,
                                struct ar_mem db, struct ar_mem dc, float *a, float *b, float *c)
{
    struct stored la = layout(p->ta ? p->k : p->m, p->ta ? p->m : p->k, p->batch, p->inter & IA);
    struct stored lb = layout(p->tb ? p->n : p->k, p->tb ? p->k : p->n, p->batch, p->inter & IB);
    struct stored lc = layout(p->m, p->n, p->batch, p->inter & IC);
    size_t na = p->m * p->k * p->batch, nb = p->k * p->n * p->batch, nc = p->m * p->n * p->batch;
    fill(a, na, p->m + 11 * p->n);
    fill(b, nb, p->k + 5 * p->n);
    struct ar_mem ao = ar_mem_at(da, OFFSET), bo = ar_mem_at(db, OFFSET), co = ar_mem_at(dc, OFFSET);
    enum ar_status st = ar_mem_write(ctx, ao, a, na);
    if (st == AR_STATUS_OK) st = ar_mem_write(ctx, bo, b, nb);
    if (st != AR_STATUS_OK) return st;
    if (p->batch == 1)
        st = ar_gemm(ctx, p->ta, p->tb, p->m, p->n, p->k, 1.0f, ao, la.ld, bo, lb.ld, 0.0f, co,
                     lc.ld);
    else
        st = ar_gemm_strided_batched(ctx, p->ta, p->tb, p->m, p->n, p->k, 1.0f, ao, la.ld,
                                     la.stride, bo, lb.ld, lb.stride, 0.0f, co, lc.ld, lc.stride,
                                     p->batch);
    if (st == AR_STATUS_OK) st = ar_mem_read(ctx, co, c, nc);
    if (st != AR_STATUS_OK) return st;
    double diff = 0, scale = 0;
    for (size_t i = 0; i < p->batch; i++)
        compare(p, la, lb, lc, a, b, c, i, &diff, &scale);
    if (!(diff <= 1e-3 * scale))
        return ar__fail(ctx, AR_STATUS_CLBLAST,
                        "CLBlast computes a wrong %s%s product %zux%zux%zu%s on %s (max error %.3g "
                        "against entries up to %.3g): a tuning table for this device is broken; "
                        "see `adarank-cl bench gemm` for the tables in use",
                        p->ta ? "T" : "N", p->tb ? "T" : "N", p->m, p->n, p->k,
                        p->batch == 1 ? "" : p->inter ? " (batched, LoRA layout)" : " (batched)",
                        ctx->info.name, diff, scale);
    return AR_STATUS_OK;
}

enum ar_status ar_gemm_self_check(struct ar_ctx *ctx)
{
    size_t count = max_floats();
    float *a = malloc(count * sizeof *a), *b = malloc(count * sizeof *b);
    float *c = malloc(count * sizeof *c);
    struct ar_mem da = {0}, db = {0}, dc = {0};
    enum ar_status st = a && b && c ? AR_STATUS_OK
                                    : ar__fail(ctx, AR_STATUS_OUT_OF_MEMORY,
                                               "gemm self-check: %zu floats of host memory", count);
    if (st == AR_STATUS_OK) st = ar_mem_alloc(ctx, count, &da);
    if (st == AR_STATUS_OK) st = ar_mem_alloc(ctx, count, &db);
    if (st == AR_STATUS_OK) st = ar_mem_alloc(ctx, count, &dc);
    for (size_t i = 0; st == AR_STATUS_OK && i < sizeof products / sizeof products[0]; i++)
        st = check_one(ctx, &products[i], da, db, dc, a, b, c);
    ar_mem_release(&da), ar_mem_release(&db), ar_mem_release(&dc);
    free(a), free(b), free(c);
    return st;
}

/* `adarank-cl bench step --profile`: where the step's time goes, product by product.
 *
 * The queue has no profiling enabled (and the model is not instrumented), so each matrix product
 * of one encoder layer is timed alone here, through ar_gemm / ar_gemm_strided_batched with the
 * shapes and transposes the engine uses (core/lora.c, core/lora_backward.c, core/attention.c),
 * then multiplied by the layer count and set against the measured forward and backward phases.
 * What the products do not explain is the element-wise kernels (LayerNorm, GELU, softmax,
 * dropout, the gates) and launch overhead. Isolated timings ignore cache effects between
 * products, so the shares are estimates, good for ranking the products.
 *
 * Legend: N = B·T rows, C hidden, I intermediate, H heads, D = C/H, R rank, G = 3 (q, k, v).
 */
#include <stdlib.h>

#include "bench_common.h"
#include "bench_step.h"

struct product {
    const char *what;
    int phase; /* 0 forward, 1 backward */
    bool ta, tb;
    size_t m, n, k, batch;
};

/* The products of one layer with LoRA on the q,k,v group (as with the default targets); returns
 * how many it wrote to p (at most 24). */
static int layer_products(const struct step_options *o, const struct ar_model_config *c,
                          struct product *p)
{
    size_t T = (size_t)o->seq, N = (size_t)o->batch * T, C = (size_t)c->hidden_size;
    size_t I = (size_t)c->intermediate_size, H = (size_t)c->num_heads, D = C / H;
    size_t BH = (size_t)o->batch * H, R = (size_t)o->rank, G = 3;
    int n = 0;
    /* forward: y = x·Wᵀ (+ LoRA: u = x·Aᵀ, y += s·(u ⊙ g)·Bᵀ per member) */
    p[n++] = (struct product){"q,k,v  x.W^T", 0, false, true, N, G * C, C, 1};
    p[n++] = (struct product){"scores q.k^T", 0, false, true, T, T, D, BH};
    p[n++] = (struct product){"context p.v", 0, false, false, T, D, T, BH};
    p[n++] = (struct product){"attn out x.W^T", 0, false, true, N, C, C, 1};
    p[n++] = (struct product){"FFN up x.W^T", 0, false, true, N, I, C, 1};
    p[n++] = (struct product){"FFN down x.W^T", 0, false, true, N, C, I, 1};
    if (R) {
        p[n++] = (struct product){"LoRA u = x.A^T", 0, false, true, N, G * R, C, 1};
        p[n++] = (struct product){"LoRA y += v.B^T", 0, false, true, N, C, R, G};
    }
    /* backward: dX = dY·W only (the base is frozen); attention's four products */
    p[n++] = (struct product){"q,k,v  dX = dY.W", 1, false, false, N, C, G * C, 1};
    p[n++] = (struct product){"dP = dctx.v^T", 1, false, true, T, T, D, BH};
    p[n++] = (struct product){"dV = P^T.dctx", 1, true, false, T, D, T, BH};
    p[n++] = (struct product){"dQ = dS.K", 1, false, false, T, D, T, BH};
    p[n++] = (struct product){"dK = dS^T.Q", 1, true, false, T, D, T, BH};
    p[n++] = (struct product){"attn out dX", 1, false, false, N, C, C, 1};
    p[n++] = (struct product){"FFN up dX", 1, false, false, N, C, I, 1};
    p[n++] = (struct product){"FFN down dX", 1, false, false, N, I, C, 1};
    if (R) {
        p[n++] = (struct product){"LoRA dB = dY^T.v", 1, true, false, C, R, N, G};
        p[n++] = (struct product){"LoRA dv = dY.B", 1, false, false, N, R, C, G};
        p[n++] = (struct product){"LoRA dA = dv^T.x", 1, true, false, G * R, C, N, 1};
        p[n++] = (struct product){"LoRA dX += dv.A", 1, false, false, N, C, G * R, 1};
    }
    return n;
}

static enum ar_status time_product(struct ar_ctx *ctx, const struct product *p, struct ar_mem a,
                                   struct ar_mem b, struct ar_mem c, double *seconds)
{
    size_t lda = p->ta ? p->m : p->k, ldb = p->tb ? p->k : p->n;
    double t[3];
    enum ar_status st = AR_STATUS_OK;
    for (int r = -1; r < 3 && st == AR_STATUS_OK; r++) { /* one warm-up: CLBlast compiles */
        double t0 = bench_now_s();
        if (p->batch == 1)
            st = ar_gemm(ctx, p->ta, p->tb, p->m, p->n, p->k, 1.0f, a, lda, b, ldb, 0.0f, c, p->n);
        else
            st = ar_gemm_strided_batched(ctx, p->ta, p->tb, p->m, p->n, p->k, 1.0f, a, lda,
                                         p->m * p->k, b, ldb, p->k * p->n, 0.0f, c, p->n,
                                         p->m * p->n, p->batch);
        if (st == AR_STATUS_OK) st = ar_ctx_finish(ctx);
        if (r >= 0) t[r] = bench_now_s() - t0;
    }
    *seconds = st == AR_STATUS_OK ? bench_median(t, 3) : 0;
    return st;
}

enum ar_status step_profile(struct ar_ctx *ctx, const struct step_options *o,
                            const struct step_result *r)
{
    if (r->cfg.arch != AR_ARCH_BERT) {
        printf("\nprofile: only BERT/RoBERTa layers are modelled (this is %s)\n",
               r->cfg.model_type);
        return AR_STATUS_OK;
    }
    struct product p[24];
    int n = layer_products(o, &r->cfg, p);
    size_t na = 1, nb = 1, nc = 1;
    for (int i = 0; i < n; i++) {
        na = p[i].m * p[i].k * p[i].batch > na ? p[i].m * p[i].k * p[i].batch : na;
        nb = p[i].k * p[i].n * p[i].batch > nb ? p[i].k * p[i].n * p[i].batch : nb;
        nc = p[i].m * p[i].n * p[i].batch > nc ? p[i].m * p[i].n * p[i].batch : nc;
    }
    struct ar_mem a = {0}, b = {0}, c = {0};
    enum ar_status st = ar_mem_alloc(ctx, na, &a);
    if (st == AR_STATUS_OK) st = ar_mem_alloc(ctx, nb, &b);
    if (st == AR_STATUS_OK) st = ar_mem_alloc(ctx, nc, &c);
    if (st == AR_STATUS_OK) st = ar_mem_fill(ctx, a, 0.01f, na);
    if (st == AR_STATUS_OK) st = ar_mem_fill(ctx, b, 0.02f, nb);
    double sec[24] = {0}, sum[2] = {0};
    for (int i = 0; i < n && st == AR_STATUS_OK; i++) {
        st = time_product(ctx, &p[i], a, b, c, &sec[i]);
        sum[p[i].phase] += sec[i] * r->cfg.num_layers;
    }
    ar_mem_release(&a);
    ar_mem_release(&b);
    ar_mem_release(&c);
    if (st != AR_STATUS_OK) return st;
    int L = r->cfg.num_layers;
    printf("\nprofile: each product of one layer timed alone (median of 3), x %d layers\n", L);
    printf("%-8s %-18s %6s %6s %6s %5s %10s %8s\n", "phase", "product", "m", "n", "k", "batch",
           "ms (xL)", "% phase");
    for (int i = 0; i < n; i++) {
        double ms = sec[i] * L * 1e3, phase = r->phase_s[p[i].phase] * 1e3;
        printf("%-8s %-18s %6zu %6zu %6zu %5zu %10.1f %7.1f%%\n",
               p[i].phase ? "backward" : "forward", p[i].what, p[i].m, p[i].n, p[i].k, p[i].batch,
               ms, 100.0 * ms / phase);
    }
    for (int ph = 0; ph < 2; ph++) {
        double share = sum[ph] / r->phase_s[ph];
        printf("%s: products %.1f ms of the measured %.1f ms (%.0f%%)%s\n",
               ph ? "backward" : "forward", sum[ph] * 1e3, r->phase_s[ph] * 1e3, 100.0 * share,
               share <= 1.0 ? "; the rest is element-wise kernels, the head and launch overhead"
                            : "; alone they took longer than in the step (machine load changed?): "
                              "read the column as a ranking");
    }
    return AR_STATUS_OK;
}

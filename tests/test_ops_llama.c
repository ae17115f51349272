/* Llama's ops (ops.h: RMSNorm, RoPE with grouped-query packing, SwiGLU) against plain-C double
 * references. Each backward reference is itself checked against central finite differences of
 * its forward reference (double, h = 1e-5: truncation h²·|f'''| and rounding eps64/h are both
 * below 1e-9 of the values here, so 1e-7 relative + 1e-9 is a safe bound), then the device's
 * float32 results are compared with the references under test.h's policy. Operands sit at
 * non-zero offsets between guard floats (tests/ops_check.h). Sizes are odd and C > the
 * work-group size so striding and rounded-up global sizes are exercised. */
#include "ops_check.h"

static unsigned long long seed = 20240611ULL;

/* Central finite differences of f at x[i] (x is modified and restored). */
typedef double (*scalar_fn)(double *x, void *ctx);

static void check_fd(const char *what, scalar_fn f, void *fctx, double *x, size_t n,
                     const double *grad)
{
    double worst = 0;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double h = 1e-5, keep = x[i];
        x[i] = keep + h;
        double up = f(x, fctx);
        x[i] = keep - h;
        double down = f(x, fctx);
        x[i] = keep;
        double fd = (up - down) / (2 * h), err = fabs(fd - grad[i]);
        double tol = 1e-7 * fabs(fd) + 1e-9;
        worst = fmax(worst, err / tol);
        bad += !(err <= tol);
    }
    CHECK(bad == 0, "%s: %zu of %zu analytic gradients differ from finite differences", what,
          bad, n);
    printf("  %-52s finite differences: worst %.2f of tol\n", what, worst);
}

/* ---- RMSNorm ------------------------------------------------------------------------------- */

enum { RN = 7, RC = 70 };
struct rms_ctx {
    const double *w, *dy;
    double eps;
};

static void rms_ref(const double *x, const double *w, double eps, double *y, double *rstd)
{
    for (int r = 0; r < RN; r++) {
        double q = 0;
        for (int j = 0; j < RC; j++)
            q += x[r * RC + j] * x[r * RC + j];
        double rs = 1.0 / sqrt(q / RC + eps);
        rstd[r] = rs;
        for (int j = 0; j < RC; j++)
            y[r * RC + j] = x[r * RC + j] * rs * w[j];
    }
}

static void rms_ref_backward(const double *x, const double *w, const double *rstd,
                             const double *dy, double *dx)
{
    for (int r = 0; r < RN; r++) {
        double m = 0, rs = rstd[r];
        for (int j = 0; j < RC; j++)
            m += dy[r * RC + j] * w[j] * x[r * RC + j] * rs;
        m /= RC;
        for (int j = 0; j < RC; j++)
            dx[r * RC + j] = rs * (dy[r * RC + j] * w[j] - x[r * RC + j] * rs * m);
    }
}

static double rms_loss(double *x, void *p)
{
    struct rms_ctx *c = p;
    double y[RN * RC], rstd[RN], s = 0;
    rms_ref(x, c->w, c->eps, y, rstd);
    for (int i = 0; i < RN * RC; i++)
        s += c->dy[i] * y[i];
    return s;
}

static void test_rmsnorm(struct ar_ctx *ctx)
{
    printf("rmsnorm (N %d, C %d)\n", RN, RC);
    float x[RN * RC], w[RC], dy[RN * RC], got[RN * RC], prior[RN * RC];
    fill_uniform(x, RN * RC, -2, 2, &seed);
    fill_uniform(w, RC, 0.5f, 1.5f, &seed);
    fill_uniform(dy, RN * RC, -1, 1, &seed);
    fill_uniform(prior, RN * RC, -1, 1, &seed);
    double *xd = to_double(x, RN * RC), *wd = to_double(w, RC), *dyd = to_double(dy, RN * RC);
    double y[RN * RC], rstd[RN], dx[RN * RC];
    float eps = 1e-6f;
    rms_ref(xd, wd, eps, y, rstd);
    rms_ref_backward(xd, wd, rstd, dyd, dx);
    struct rms_ctx fc = {wd, dyd, eps};
    check_fd("rmsnorm backward reference", rms_loss, &fc, xd, RN * RC, dx);

    struct tbuf bx = tb_new(ctx, RN * RC, 5), bw = tb_new(ctx, RC, 3), by = tb_new(ctx, RN * RC, 4),
                br = tb_new(ctx, RN, 2), bdy = tb_new(ctx, RN * RC, 6),
                bdx = tb_new(ctx, RN * RC, 7);
    tb_write(ctx, &bx, x);
    tb_write(ctx, &bw, w);
    tb_write(ctx, &bdy, dy);
    CHECK_OK(ctx, ar_rmsnorm_forward(ctx, RN, RC, eps, bx.mem, bw.mem, by.mem, br.mem));
    tb_read(ctx, &by, got, "rmsnorm y");
    /* k = C (the sum of squares), plus rsqrt's 2 ulp (test.h) */
    check_close_tol("rmsnorm forward", y, got, RN * RC,
                    test_tolerance_ulp(RC, 2, test_max_abs(y, RN * RC)));
    CHECK_OK(ctx, ar_rmsnorm_backward(ctx, RN, RC, bdy.mem, bx.mem, bw.mem, br.mem, bdx.mem, false));
    tb_read(ctx, &bdx, got, "rmsnorm dx");
    /* two length-C reductions in a chain (rstd, then mean(dŷ·x̂)) */
    double tol = test_tolerance_ulp(2 * RC, 2, test_max_abs(dx, RN * RC));
    check_close_tol("rmsnorm backward", dx, got, RN * RC, tol);
    tb_write(ctx, &bdx, prior);
    CHECK_OK(ctx, ar_rmsnorm_backward(ctx, RN, RC, bdy.mem, bx.mem, bw.mem, br.mem, bdx.mem, true));
    tb_read(ctx, &bdx, got, "rmsnorm dx accumulated");
    for (int i = 0; i < RN * RC; i++)
        dx[i] += prior[i];
    check_close_tol("rmsnorm backward, accumulate", dx, got, RN * RC,
                    test_tolerance_ulp(2 * RC, 2, test_max_abs(dx, RN * RC)));
    CHECK_FAILS(ctx, ar_rmsnorm_forward(ctx, RN, RC, eps, bx.mem, (struct ar_mem){0}, by.mem, br.mem),
                AR_STATUS_INVALID_ARGUMENT, "w");
    CHECK_FAILS(ctx, ar_rmsnorm_forward(ctx, 0, RC, eps, bx.mem, bw.mem, by.mem, br.mem),
                AR_STATUS_INVALID_ARGUMENT, "n=0");
    struct tbuf *all[] = {&bx, &bw, &by, &br, &bdy, &bdx};
    for (int i = 0; i < 6; i++)
        tb_free(all[i]);
    free(xd);
    free(wd);
    free(dyd);
}

/* ---- RoPE + grouped-query packing ---------------------------------------------------------- */

enum { PB = 2, PT = 5, PH = 4, PKV = 2, PD = 6 };
enum { PN = PB * PT, PC = PH * PD, PKVD = PKV * PD };
static const double theta = 10000.0;

/* in: q (N, C) then kv (N, 2·KVD), one vector so finite differences can walk both. */
static void rope_ref(const double *in, double *qkv)
{
    const double *q = in, *kv = in + PN * PC;
    int half = PD / 2, rep = PH / PKV;
    for (int r = 0; r < PN; r++) {
        int t = r % PT;
        for (int h = 0; h < PH; h++) {
            const double *src[2] = {q + r * PC + h * PD, kv + r * 2 * PKVD + (h / rep) * PD};
            for (int b = 0; b < 2; b++)
                for (int i = 0; i < half; i++) {
                    double a = t * pow(theta, -2.0 * i / PD), c = cos(a), s = sin(a);
                    double *o = qkv + r * 3 * PC + b * PC + h * PD;
                    o[i] = src[b][i] * c - src[b][i + half] * s;
                    o[i + half] = src[b][i + half] * c + src[b][i] * s;
                }
            for (int i = 0; i < PD; i++)
                qkv[r * 3 * PC + 2 * PC + h * PD + i] = kv[r * 2 * PKVD + PKVD + (h / rep) * PD + i];
        }
    }
}

/* The gradient of Σ g·qkv: the transpose, written out independently of the kernel's form by
 * accumulating each output's partial derivatives. */
static void rope_ref_backward(const double *g, double *grad)
{
    double *dq = grad, *dkv = grad + PN * PC;
    int half = PD / 2, rep = PH / PKV;
    memset(grad, 0, (PN * PC + PN * 2 * PKVD) * sizeof *grad);
    for (int r = 0; r < PN; r++) {
        int t = r % PT;
        for (int h = 0; h < PH; h++) {
            double *dst[2] = {dq + r * PC + h * PD, dkv + r * 2 * PKVD + (h / rep) * PD};
            for (int b = 0; b < 2; b++)
                for (int i = 0; i < half; i++) {
                    double a = t * pow(theta, -2.0 * i / PD), c = cos(a), s = sin(a);
                    const double *o = g + r * 3 * PC + b * PC + h * PD;
                    dst[b][i] += o[i] * c + o[i + half] * s;
                    dst[b][i + half] += -o[i] * s + o[i + half] * c;
                }
            for (int i = 0; i < PD; i++)
                dkv[r * 2 * PKVD + PKVD + (h / rep) * PD + i] += g[r * 3 * PC + 2 * PC + h * PD + i];
        }
    }
}

static double rope_loss(double *in, void *p)
{
    const double *g = p;
    static double qkv[PN * 3 * PC];
    rope_ref(in, qkv);
    double s = 0;
    for (int i = 0; i < PN * 3 * PC; i++)
        s += g[i] * qkv[i];
    return s;
}

static void test_rope(struct ar_ctx *ctx)
{
    printf("rope_qkv (B %d, T %d, heads %d, kv_heads %d, head_size %d)\n", PB, PT, PH, PKV, PD);
    enum { NIN = PN * PC + PN * 2 * PKVD, NOUT = PN * 3 * PC };
    static float in[NIN], g[NOUT], got[NOUT];
    static double ref[NOUT], grad[NIN];
    fill_uniform(in, NIN, -1, 1, &seed);
    fill_uniform(g, NOUT, -1, 1, &seed);
    double *ind = to_double(in, NIN), *gd = to_double(g, NOUT);
    rope_ref(ind, ref);
    rope_ref_backward(gd, grad);
    check_fd("rope backward reference", rope_loss, gd, ind, NIN, grad);

    struct tbuf bq = tb_new(ctx, PN * PC, 3), bkv = tb_new(ctx, PN * 2 * PKVD, 5),
                bc = tb_new(ctx, PT * PD / 2, 2), bs = tb_new(ctx, PT * PD / 2, 4),
                bo = tb_new(ctx, NOUT, 6), bg = tb_new(ctx, NOUT, 1);
    struct ar_rope_dims d = {PB, PT, PH, PKV, PD};
    CHECK_OK(ctx, ar_rope_tables(ctx, PT, PD, (float)theta, bc.mem, bs.mem));
    CHECK_OK(ctx, ar_mem_write(ctx, bq.mem, in, PN * PC));
    CHECK_OK(ctx, ar_mem_write(ctx, bkv.mem, in + PN * PC, PN * 2 * PKVD));
    CHECK_OK(ctx, ar_rope_qkv_forward(ctx, &d, bq.mem, bkv.mem, bc.mem, bs.mem, bo.mem));
    tb_read(ctx, &bo, got, "rope qkv");
    /* two products per output (k = 2); the float32 tables add 1 ulp each, inside the policy */
    check_close_tol("rope_qkv forward", ref, got, NOUT, test_tolerance(2, test_max_abs(ref, NOUT)));
    tb_write(ctx, &bg, g);
    CHECK_OK(ctx, ar_rope_qkv_backward(ctx, &d, bg.mem, bc.mem, bs.mem, bq.mem, bkv.mem));
    tb_read(ctx, &bq, got, "rope dq");
    tb_read(ctx, &bkv, got + PN * PC, "rope dkv");
    /* dk sums 2 products for each of the H/KV heads sharing it */
    check_close_tol("rope_qkv backward (dq, dk, dv)", grad, got, NIN,
                    test_tolerance(2 * PH / PKV, test_max_abs(grad, NIN)));
    struct ar_rope_dims bad = {PB, PT, 3, 2, PD};
    CHECK_FAILS(ctx, ar_rope_qkv_forward(ctx, &bad, bq.mem, bkv.mem, bc.mem, bs.mem, bo.mem),
                AR_STATUS_INVALID_ARGUMENT, "kv_heads 2");
    bad = (struct ar_rope_dims){PB, PT, PH, PKV, 5};
    CHECK_FAILS(ctx, ar_rope_qkv_backward(ctx, &bad, bg.mem, bc.mem, bs.mem, bq.mem, bkv.mem),
                AR_STATUS_INVALID_ARGUMENT, "head_size 5");
    CHECK_FAILS(ctx, ar_rope_qkv_forward(ctx, &d, bq.mem, bkv.mem, (struct ar_mem){0}, bs.mem,
                                         bo.mem),
                AR_STATUS_INVALID_ARGUMENT, "cos");
    struct tbuf *all[] = {&bq, &bkv, &bc, &bs, &bo, &bg};
    for (int i = 0; i < 6; i++)
        tb_free(all[i]);
    free(ind);
    free(gd);
}

/* ---- SwiGLU -------------------------------------------------------------------------------- */

enum { SN = 5, SI = 37 };

static void swiglu_ref(const double *gu, double *y)
{
    for (int r = 0; r < SN; r++)
        for (int j = 0; j < SI; j++) {
            double g = gu[r * 2 * SI + j];
            y[r * SI + j] = g / (1 + exp(-g)) * gu[r * 2 * SI + SI + j];
        }
}

static double swiglu_loss(double *gu, void *p)
{
    const double *dy = p;
    double y[SN * SI], s = 0;
    swiglu_ref(gu, y);
    for (int i = 0; i < SN * SI; i++)
        s += dy[i] * y[i];
    return s;
}

static void test_swiglu(struct ar_ctx *ctx)
{
    printf("swiglu (N %d, I %d)\n", SN, SI);
    float gu[SN * 2 * SI], dy[SN * SI], got[SN * 2 * SI];
    fill_uniform(gu, SN * 2 * SI, -4, 4, &seed);
    fill_uniform(dy, SN * SI, -1, 1, &seed);
    double *gud = to_double(gu, SN * 2 * SI), *dyd = to_double(dy, SN * SI);
    double y[SN * SI], dgu[SN * 2 * SI];
    swiglu_ref(gud, y);
    for (int r = 0; r < SN; r++)
        for (int j = 0; j < SI; j++) {
            double g = gud[r * 2 * SI + j], u = gud[r * 2 * SI + SI + j], d = dyd[r * SI + j];
            double s = 1 / (1 + exp(-g));
            dgu[r * 2 * SI + j] = d * u * s * (1 + g * (1 - s));
            dgu[r * 2 * SI + SI + j] = d * g * s;
        }
    check_fd("swiglu backward reference", swiglu_loss, dyd, gud, SN * 2 * SI, dgu);

    struct tbuf bgu = tb_new(ctx, SN * 2 * SI, 3), by = tb_new(ctx, SN * SI, 5),
                bdy = tb_new(ctx, SN * SI, 2), bdgu = tb_new(ctx, SN * 2 * SI, 4);
    tb_write(ctx, &bgu, gu);
    tb_write(ctx, &bdy, dy);
    CHECK_OK(ctx, ar_swiglu_forward(ctx, SN, SI, bgu.mem, by.mem));
    tb_read(ctx, &by, got, "swiglu y");
    /* exp (3 ulp) then a division (2.5 ulp): 6 ulp, k = 1 */
    check_close_tol("swiglu forward", y, got, SN * SI,
                    test_tolerance_ulp(1, 6, test_max_abs(y, SN * SI)));
    CHECK_OK(ctx, ar_swiglu_backward(ctx, SN, SI, bgu.mem, bdy.mem, bdgu.mem));
    tb_read(ctx, &bdgu, got, "swiglu dgu");
    check_close_tol("swiglu backward", dgu, got, SN * 2 * SI,
                    test_tolerance_ulp(2, 6, test_max_abs(dgu, SN * 2 * SI)));
    CHECK_FAILS(ctx, ar_swiglu_backward(ctx, SN, SI, bgu.mem, (struct ar_mem){0}, bdgu.mem),
                AR_STATUS_INVALID_ARGUMENT, "dy");
    struct tbuf *all[] = {&bgu, &by, &bdy, &bdgu};
    for (int i = 0; i < 4; i++)
        tb_free(all[i]);
    free(gud);
    free(dyd);
}

int main(void)
{
    struct ar_ctx *ctx = test_open_ctx();
    test_rmsnorm(ctx);
    test_rope(ctx);
    test_swiglu(ctx);
    ar_ctx_free(ctx);
    return test_finish("ops_llama");
}

/* The gated LoRA layer's gradients against central finite differences, in double precision, of
 * the scalar loss L = Σ Y⊙dY computed by the plain-C forward (test_lora_ref.h).
 *
 * This checks the device's backward against the forward's derivative directly, independent of the
 * hand-derived reference backward that test_lora.c uses. Dropout is on in some cases: its mask is
 * a fixed function of (seed, step), so L stays smooth, and a backward that drew another mask than
 * its forward would fail here. */
#include "test_lora_ref.h"

struct lora_params {
    double *x, *w, *bias, *a, *b, *gate, *mask, *dy;
};

static double loss(const struct lora_case *c, const struct lora_params *p)
{
    double *y = malloc(lc_y(c) * sizeof *y);
    ref_forward(c, p->x, p->w, p->bias, p->a, p->b, p->gate, p->mask, y, NULL);
    double l = 0.0;
    for (size_t i = 0; i < lc_y(c); i++)
        l += y[i] * p->dy[i];
    free(y);
    return l;
}

/* ∂L/∂v[i] for every i by (L(v + h) − L(v − h)) / 2h. L is linear in each single element (Y is
 * multilinear in X, A, B, g), so the truncation error is zero and only rounding remains:
 * ~eps64·|L|/h ≈ 1e-12 at h = 1e-3, far below the float32 tolerance of the device result. */
static void finite_differences(const struct lora_case *c, struct lora_params *p, double *v,
                               size_t n, double *grad)
{
    const double h = 1e-3;
    for (size_t i = 0; i < n; i++) {
        double keep = v[i];
        v[i] = keep + h;
        double up = loss(c, p);
        v[i] = keep - h;
        double down = loss(c, p);
        v[i] = keep;
        grad[i] = (up - down) / (2 * h);
    }
}

static void check_case(struct ar_ctx *ctx, const struct lora_case *c)
{
    struct lora_data d = lora_make_data(c, 0xfdfdULL + (unsigned long long)c->rank);
    /* Zero initial gradients: the device result is then the gradient itself. */
    memset(d.da0, 0, lc_a(c) * sizeof(float));
    memset(d.db0, 0, lc_b(c) * sizeof(float));
    memset(d.dg0, 0, lc_g(c) * sizeof(float));
    struct lora_result r = lora_run_device(ctx, c, &d);
    struct lora_abs abs = lora_abs_reference(c, &d);
    CHECK(r.guards_broken == 0, "%s: guards", c->name);

    struct lora_params p = {ref_to_double(d.x, lc_x(c)),
                            ref_to_double(d.w, lc_w(c)),
                            ref_to_double(d.bias, (size_t)c->groups * c->out),
                            ref_to_double(d.a, lc_a(c)),
                            ref_to_double(d.b, lc_b(c)),
                            ref_to_double(d.gate, lc_g(c)),
                            ref_to_double(d.mask, lc_g(c)),
                            ref_to_double(d.dy, lc_y(c))};
    size_t most = lc_x(c) > lc_a(c) ? lc_x(c) : lc_a(c);
    if (lc_b(c) > most) most = lc_b(c);
    double *fd = malloc((most + 1) * sizeof *fd);
    char what[160];
    /* k: the longest chain behind each device gradient (see test_lora.c). */
    double k_dx = c->groups * (c->out + c->rank) + c->out;
    snprintf(what, sizeof what, "%s: dX vs FD", c->name);
    finite_differences(c, &p, p.x, lc_x(c), fd);
    lora_check_close(what, fd, abs.dx, r.dx, lc_x(c), k_dx);
    snprintf(what, sizeof what, "%s: dA vs FD", c->name);
    finite_differences(c, &p, p.a, lc_a(c), fd);
    lora_check_close(what, fd, abs.da, r.da, lc_a(c), c->out + c->n);
    snprintf(what, sizeof what, "%s: dB vs FD", c->name);
    finite_differences(c, &p, p.b, lc_b(c), fd);
    lora_check_close(what, fd, abs.db, r.db, lc_b(c), c->in + c->n);
    if (!c->plain) {
        snprintf(what, sizeof what, "%s: dg vs FD", c->name);
        finite_differences(c, &p, p.gate, lc_g(c), fd);
        lora_check_close(what, fd, abs.dg, r.dg, lc_g(c), c->in + c->out + c->n);
    }
    free(fd);
    double *all[] = {p.x, p.w, p.bias, p.a, p.b, p.gate, p.mask, p.dy};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        free(all[i]);
    lora_free_abs(&abs);
    lora_free_result(&r);
    lora_free_data(&d);
}

int main(void)
{
    struct ar_ctx *ctx = test_open_ctx();
    /* name, n_max, n, in, out, G, R, plain, bias, mask, dgate, dx_acc, s, p, training, seed,
     * step */
    const struct lora_case cases[] = {
        {"gated G=3 R=2 dropout", 6, 5, 7, 4, 3, 2, false, true, true, true, false, 2.0f, 0.3f,
         true, 1234, 56},
        {"gated G=1 R=1", 4, 4, 9, 3, 1, 1, false, true, true, true, false, 0.5f, 0, true},
        {"plain G=3 R=5 dropout", 5, 3, 6, 5, 3, 5, true, false, false, true, false, 1.0f, 0.5f,
         true, 77, 3},
        {"gated G=2 R=5 no mask", 5, 5, 11, 6, 2, 5, false, false, false, true, false, 1.0f, 0,
         true},
        {"frozen G=3 R=0", 5, 4, 6, 5, 3, 0, false, true, false, false, false, 1.0f, 0, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_case(ctx, &cases[i]);
    ar_ctx_free(ctx);
    return test_finish("lora_grad");
}

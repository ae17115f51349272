/* The bilevel hypergradient of core/hypergrad.c (AutoLoRA §2.2, Flexora §4.1) on the tiny BERT
 * fixture, against central finite differences of the unrolled objective itself:
 *
 *     F(x) = L_val(θ − ξ·∇θ L_tr(θ, g(x)), g(x)),
 *
 * x one selection variable (a Flexora layer logit α_l, an AutoLoRA logit β_ij) and g(x) the gates
 * it gives. F is computed here directly (forward, backward, arena_axpy), not by the code under
 * test. The second-order hypergradient must match; the first-order one (no Hessian term) must be
 * measurably farther from it at the large ξ used (0.5), so the test can tell them apart. Also:
 * θ and the zero gradients are left as found, and bad options are refused with a message.
 */
#include "method_internal.h"
#include "method_toy.h"

#define N_EXAMPLES 8 /* method_toy.h's toy task, 8 examples: one batch */
#define XI 0.5f

struct batch_buf {
    struct ar_padded_batch pb;
    struct ar_batch b;
};

static void make_batch(struct ar_ctx *ctx, const struct ar_encoded *set, struct batch_buf *out)
{
    int rows[N_EXAMPLES];
    for (int i = 0; i < N_EXAMPLES; i++)
        rows[i] = i;
    CHECK_OK(ctx, ar_padded_batch_fill(&out->pb, set, rows, N_EXAMPLES, 0));
    const struct ar_padded_batch *pb = &out->pb;
    out->b = (struct ar_batch){pb->batch, pb->time, pb->ids, pb->type_ids, pb->attn_mask,
                               pb->labels};
}

/* Rank 4 on query and value of both layers; B drawn U(−0.5, 0.5) so that the gates matter (with
 * PEFT's B = 0 every gate gradient would be exactly 0). */
static struct ar_model *load_model(struct ar_ctx *ctx)
{
    struct ar_model *m = toy_model(ctx, 4, 8.0f);
    if (!m)
        exit(test_finish("hypergrad"));
    toy_randomize_b(ctx, m);
    return m;
}

/* F at the gates the method holds now, computed from scratch. */
static double unrolled_loss(struct ar_ctx *ctx, struct ar_model *model, struct ar_method *m,
                            const struct ar_batch *train, const struct ar_batch *val)
{
    struct ar_arena *arena = ar_model_arena(model);
    struct ar_mem saved = {0};
    float loss = NAN;
    CHECK_OK(ctx, ar_mem_alloc(ctx, arena->total, &saved));
    CHECK_OK(ctx, ar_mem_copy(ctx, saved, arena->param, arena->total));
    CHECK_OK(ctx, ar_arena_zero_grad(ctx, arena));
    CHECK_OK(ctx, ar_model_forward(model, train, false, 0, NULL));
    CHECK_OK(ctx, ar_model_backward(model, 1.0f));
    CHECK_OK(ctx, ar__method_freeze_gates(m)); /* θ excludes the gates */
    CHECK_OK(ctx, ar__arena_axpy(ctx, arena->param, arena->grad, arena->total, -XI));
    CHECK_OK(ctx, ar_model_forward(model, val, false, 0, &loss));
    CHECK_OK(ctx, ar_mem_copy(ctx, arena->param, saved, arena->total));
    CHECK_OK(ctx, ar_arena_zero_grad(ctx, arena));
    ar_mem_release(&saved);
    return loss;
}

/* Central difference of F along selection variable `which` at step δ. */
static double fd_at(struct ar_ctx *ctx, struct ar_model *model, struct ar_method *m,
                    const struct batch_buf *tr, const struct batch_buf *va, const float *x,
                    int which, double delta)
{
    int n = m->bilevel->n;
    float *xp = malloc((size_t)n * sizeof *xp);
    memcpy(xp, x, (size_t)n * sizeof *xp);
    xp[which] = (float)(x[which] + delta);
    double dx_up = (double)xp[which] - x[which];
    CHECK_OK(ctx, ar__bilevel_set(m, xp));
    double up = unrolled_loss(ctx, model, m, &tr->b, &va->b);
    xp[which] = (float)(x[which] - delta);
    double dx_down = (double)x[which] - xp[which];
    CHECK_OK(ctx, ar__bilevel_set(m, xp));
    double down = unrolled_loss(ctx, model, m, &tr->b, &va->b);
    CHECK_OK(ctx, ar__bilevel_set(m, x));
    free(xp);
    return (up - down) / (dx_up + dx_down); /* the float steps actually taken */
}

static bool region_equals(struct ar_ctx *ctx, struct ar_mem region, const float *want, size_t n)
{
    float *got = malloc(n * sizeof *got);
    CHECK_OK(ctx, ar_mem_read(ctx, region, got, n));
    bool same = true;
    for (size_t i = 0; i < n; i++)
        same &= want ? got[i] == want[i] : got[i] == 0.0f;
    free(got);
    return same;
}

/* K of the policy for one float32 evaluation of F: a forward and a backward (the inner step)
 * through both layers, then a forward, each a chain of hidden 72 + intermediate 100 per layer. */
#define K_F (6.0 * (72 + 100))

struct hg_case {
    const char *name;
    struct ar_method_params p;
    int which;    /* the selection variable differentiated */
    double delta; /* FD step: larger for β, whose gradients are ~50× smaller than α's */
};

/* The hypergradient vs FD of F, with a tolerance made of three estimated error terms:
 *   - FD truncation c·δ²: fd(2δ) − fd(δ) = 3c·δ², so |fd(δ) − fd(2δ)| is 3× the truncation error
 *     of fd(δ); it is counted twice to cover the noise of that estimate;
 *   - FD rounding: each float32 F is within T = test_tolerance(K_F, |F|) of the exact value (the
 *     policy of test.h), so the central difference is off by at most 2T/(2δ) = T/δ;
 *   - the Hessian-vector product's own finite difference along v (truncation ∝ R², rounding ∝
 *     1/R, R = ε·‖v‖): estimated by |h(R) − h(2R)|, counted twice.
 * The test must also resolve what it claims: the tolerance is at most a quarter of the gap between
 * the first- and second-order hypergradients, and the first-order one is outside it. */
static void check_case(struct ar_ctx *ctx, const struct hg_case *c, const struct batch_buf *tr,
                       const struct batch_buf *va)
{
    struct ar_model *model = load_model(ctx);
    struct ar_method *m = NULL;
    CHECK_OK(ctx, ar_method_new(ctx, model, &c->p, 1, &m));
    if (!m) {
        ar_model_free(model);
        return;
    }
    /* Selection variables away from their symmetric start, so every term of the chain counts. */
    struct ar__bilevel *b = m->bilevel;
    float *x = malloc((size_t)b->n * sizeof *x);
    unsigned long long seed = 5;
    for (int i = 0; i < b->n; i++)
        x[i] = (c->p.kind == AR_METHOD_AUTOLORA ? 1.0f : 0.0f) + 0.3f * test_uniform(&seed);
    CHECK_OK(ctx, ar__bilevel_set(m, x));

    struct ar_arena *arena = ar_model_arena(model);
    float *before = malloc(arena->total * sizeof *before);
    CHECK_OK(ctx, ar_arena_zero_grad(ctx, arena));
    CHECK_OK(ctx, ar_mem_read(ctx, arena->param, before, arena->total));
    struct ar__hypergrad_opts second = {.inner_lr = XI, .darts_r = 0.01f, .scale_by_lr = true};
    struct ar__hypergrad_opts second_2r = second, first = second;
    second_2r.darts_r = 0.02f;
    first.first_order = true;
    CHECK_OK(ctx, ar__bilevel_hyper_grad(m, &tr->b, &va->b, &second));
    double h2 = b->grad[c->which];
    float val_loss = b->val_loss;
    CHECK(region_equals(ctx, arena->param, before, arena->total), "%s: θ not restored", c->name);
    CHECK(region_equals(ctx, arena->grad, NULL, arena->total), "%s: gradients not zero", c->name);
    CHECK_OK(ctx, ar__bilevel_hyper_grad(m, &tr->b, &va->b, &second_2r));
    double h2r = b->grad[c->which];
    CHECK_OK(ctx, ar__bilevel_hyper_grad(m, &tr->b, &va->b, &first));
    double h1 = b->grad[c->which];

    double f0 = unrolled_loss(ctx, model, m, &tr->b, &va->b);
    double t_f = test_tolerance(K_F, fabs(f0));
    CHECK(fabs(f0 - val_loss) <= test_tolerance(1, fabs(f0)), "%s: val loss %.9g vs F %.9g",
          c->name, (double)val_loss, f0);
    double fd = fd_at(ctx, model, m, tr, va, x, c->which, c->delta);
    double fd2 = fd_at(ctx, model, m, tr, va, x, c->which, 2 * c->delta);
    double tol = 2 * fabs(fd - fd2) + t_f / c->delta + 2 * fabs(h2 - h2r);
    printf("%s: F %.6f; FD %.6g (2δ: %.6g); second order %.6g (2R: %.6g), first order %.6g; "
           "tolerance %.3g\n",
           c->name, f0, fd, fd2, h2, h2r, h1, tol);
    CHECK(fabs(h2 - fd) <= tol, "%s: hypergradient %.6g vs finite differences %.6g (tol %.3g)",
          c->name, h2, fd, tol);
    CHECK(tol <= 0.25 * fabs(h2 - h1),
          "%s: tolerance %.3g does not resolve the second-order term %.3g", c->name, tol,
          h2 - h1);
    CHECK(fabs(h1 - fd) > tol, "%s: first order %.6g is within %.3g of FD %.6g", c->name, h1, tol,
          fd);
    free(x);
    free(before);
    ar_method_free(m);
    ar_model_free(model);
}

static void bad_input(struct ar_ctx *ctx, const struct batch_buf *tr, const struct batch_buf *va)
{
    struct ar_model *model = load_model(ctx);
    struct ar_method_params p = ar_method_default_params(AR_METHOD_FLEXORA);
    struct ar_method *m = NULL;
    CHECK_OK(ctx, ar_method_new(ctx, model, &p, 1, &m));
    float h[64];
    struct ar__hypergrad_opts o = {.inner_lr = -1.0f, .darts_r = 0.01f};
    CHECK(m && ar__hypergrad_gates(m, &tr->b, &va->b, &o, h, NULL) ==
                   AR_STATUS_INVALID_ARGUMENT,
          "a negative inner lr is refused");
    CHECK(strstr(ar_ctx_errmsg(ctx), "inner lr") != NULL, "message: %s", ar_ctx_errmsg(ctx));
    o = (struct ar__hypergrad_opts){.inner_lr = 0.1f, .darts_r = 0.0f};
    CHECK(m && ar__hypergrad_gates(m, &tr->b, &va->b, &o, h, NULL) ==
                   AR_STATUS_INVALID_ARGUMENT,
          "darts_r 0 is refused");
    ar_method_free(m);
    p = ar_method_default_params(AR_METHOD_LORA);
    CHECK_OK(ctx, ar_method_new(ctx, model, &p, 1, &m));
    o.darts_r = 0.01f;
    CHECK(m && ar__hypergrad_gates(m, &tr->b, &va->b, &o, h, NULL) == AR_STATUS_UNSUPPORTED,
          "LoRA has no hypergradient");
    CHECK(strstr(ar_ctx_errmsg(ctx), "lora") != NULL, "message: %s", ar_ctx_errmsg(ctx));
    ar_method_free(m);
    ar_model_free(model);
}

int main(void)
{
    struct ar_ctx *ctx = test_open_ctx();
    struct ar_encoded *train = toy_set(N_EXAMPLES, 42), *val = toy_set(N_EXAMPLES, 4242);
    struct batch_buf tr = {0}, va = {0};
    make_batch(ctx, train, &tr);
    make_batch(ctx, val, &va);
    struct hg_case cases[3] = {
        {"flexora k=3, alpha_0", ar_method_default_params(AR_METHOD_FLEXORA), 0, 1e-2},
        {"flexora k=1, alpha_1", ar_method_default_params(AR_METHOD_FLEXORA), 1, 1e-2},
        /* β of module 1 (layer 0 value), component 2 */
        {"autolora beta_1,2", ar_method_default_params(AR_METHOD_AUTOLORA), 6, 1e-1},
    };
    cases[0].p.flexora.power = 3;
    for (int i = 0; i < 3; i++)
        check_case(ctx, &cases[i], &tr, &va);
    bad_input(ctx, &tr, &va);
    ar_padded_batch_free(&tr.pb);
    ar_padded_batch_free(&va.pb);
    ar_encoded_free(train);
    ar_encoded_free(val);
    ar_ctx_free(ctx);
    return test_finish("hypergrad");
}

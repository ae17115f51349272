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
#include "adarank/method.h"
#include "method_internal.h"
#include "test.h"

#define N_EXAMPLES 8
#define XI 0.5f

static const char *model_dir(void)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/fixtures/bert_tiny", getenv("ADARANK_TEST_DATA"));
    return path;
}

/* The toy task of test_method.c (label = first real token mod 3), 8 examples of 4..11 tokens. */
static struct ar_encoded *toy_set(unsigned long long seed)
{
    struct ar_encoded *s = calloc(1, sizeof *s);
    s->count = N_EXAMPLES;
    s->num_labels = 3;
    s->offsets = calloc(N_EXAMPLES + 1, sizeof *s->offsets);
    s->labels = calloc(N_EXAMPLES, sizeof *s->labels);
    s->lines = calloc(N_EXAMPLES, sizeof *s->lines);
    s->ids = calloc(N_EXAMPLES * 12, sizeof *s->ids);
    s->type_ids = calloc(N_EXAMPLES * 12, sizeof *s->type_ids);
    int64_t at = 0;
    for (int i = 0; i < N_EXAMPLES; i++) {
        int len = 4 + (int)((test_uniform(&seed) + 1.0f) * 4.0f);
        s->offsets[i] = at;
        for (int t = 0; t < len; t++)
            s->ids[at + t] = 5 + (int)((test_uniform(&seed) + 1.0f) * 45.0f);
        s->ids[at] = 1;
        s->labels[i] = s->ids[at + 1] % 3;
        s->lines[i] = i + 2;
        s->max_len = len > s->max_len ? len : s->max_len;
        at += len;
    }
    s->offsets[N_EXAMPLES] = at;
    return s;
}

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
    struct ar_model_options o = ar_model_default_options();
    o.num_labels = 3;
    o.target_modules = "query,value";
    o.rank = 4;
    o.lora_alpha = 8.0f;
    o.max_batch = 8;
    o.max_time = 16;
    o.seed = 7;
    struct ar_model *m = NULL;
    CHECK_OK(ctx, ar_model_load(ctx, model_dir(), &o, &m));
    if (!m)
        exit(test_finish("hypergrad"));
    unsigned long long seed = 99;
    struct ar_arena *arena = ar_model_arena(m);
    for (int i = 0; i < ar_model_module_count(m); i++) {
        const struct ar_model_module *mod = ar_model_module(m, i);
        size_t n = (size_t)mod->out * (size_t)mod->rank;
        float *b = malloc(n * sizeof *b);
        for (size_t e = 0; e < n; e++)
            b[e] = 0.5f * test_uniform(&seed);
        CHECK_OK(ctx, ar_mem_write(ctx, ar_mem_at(arena->param, mod->b_off), b, n));
        free(b);
    }
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

static void check_case(struct ar_ctx *ctx, const char *name, struct ar_method_params p,
                       const struct batch_buf *tr, const struct batch_buf *va, int which)
{
    struct ar_model *model = load_model(ctx);
    struct ar_method *m = NULL;
    CHECK_OK(ctx, ar_method_new(ctx, model, &p, 1, &m));
    if (!m) {
        ar_model_free(model);
        return;
    }
    /* Selection variables away from their symmetric start, so every term of the chain counts. */
    struct ar__bilevel *b = m->bilevel;
    float *x = malloc((size_t)b->n * sizeof *x);
    unsigned long long seed = 5;
    for (int i = 0; i < b->n; i++)
        x[i] = (p.kind == AR_METHOD_AUTOLORA ? 1.0f : 0.0f) + 0.3f * test_uniform(&seed);
    CHECK_OK(ctx, ar__bilevel_set(m, x));

    struct ar_arena *arena = ar_model_arena(model);
    float *before = malloc(arena->total * sizeof *before);
    CHECK_OK(ctx, ar_arena_zero_grad(ctx, arena));
    CHECK_OK(ctx, ar_mem_read(ctx, arena->param, before, arena->total));
    struct ar__hypergrad_opts second = {.inner_lr = XI, .darts_r = 0.01f, .scale_by_lr = true};
    struct ar__hypergrad_opts first = second;
    first.first_order = true;
    CHECK_OK(ctx, ar__bilevel_hyper_grad(m, &tr->b, &va->b, &second));
    double h2 = b->grad[which];
    CHECK(region_equals(ctx, arena->param, before, arena->total), "%s: θ not restored", name);
    CHECK(region_equals(ctx, arena->grad, NULL, arena->total), "%s: gradients not zero", name);
    double vv = 0;
    CHECK_OK(ctx, ar_sum_squares(ctx, arena->total, b->v, &vv));
    CHECK_OK(ctx, ar__bilevel_hyper_grad(m, &tr->b, &va->b, &second));
    CHECK(b->grad[which] == h2, "%s: not deterministic: %.9g then %.9g", name, b->grad[which],
          h2);
    CHECK_OK(ctx, ar__bilevel_hyper_grad(m, &tr->b, &va->b, &first));
    double h1 = b->grad[which];
    if (getenv("HG_DUMP")) {
        double *g1 = malloc(b->n * sizeof *g1);
        memcpy(g1, b->grad, b->n * sizeof *g1);
        CHECK_OK(ctx, ar__bilevel_hyper_grad(m, &tr->b, &va->b, &second));
        for (int i = 0; i < b->n; i++)
            printf("  %d: first %.4g second %.4g\n", i, g1[i], b->grad[i]);
        free(g1);
    }
    double f0 = unrolled_loss(ctx, model, m, &tr->b, &va->b);
    CHECK(fabs(f0 - b->val_loss) == 0.0, "%s: val loss %.9g vs F %.9g", name,
          (double)b->val_loss, f0);
    double fd1 = fd_at(ctx, model, m, tr, va, x, which, 1e-2);
    double fd2 = fd_at(ctx, model, m, tr, va, x, which, 2e-2);
    double fd05 = fd_at(ctx, model, m, tr, va, x, which, 5e-3);
    printf("%s: F %.6f |v| %.4g  second %.6g first %.6g  fd(1e-2) %.6g fd(2e-2) %.6g "
           "fd(5e-3) %.6g\n",
           name, f0, sqrt(vv), h2, h1, fd1, fd2, fd05);
    free(x);
    free(before);
    ar_method_free(m);
    ar_model_free(model);
}

int main(void)
{
    struct ar_ctx *ctx = test_open_ctx();
    struct ar_encoded *train = toy_set(42), *val = toy_set(4242);
    struct batch_buf tr = {0}, va = {0};
    make_batch(ctx, train, &tr);
    make_batch(ctx, val, &va);
    struct ar_method_params p = ar_method_default_params(AR_METHOD_FLEXORA);
    p.flexora.power = 3;
    check_case(ctx, "flexora k=3 alpha_0", p, &tr, &va, 0);
    check_case(ctx, "flexora k=3 alpha_1", p, &tr, &va, 1);
    p.flexora.power = 1;
    check_case(ctx, "flexora k=1 alpha_1", p, &tr, &va, 1);
    p = ar_method_default_params(AR_METHOD_AUTOLORA);
    check_case(ctx, "autolora beta_0,1", p, &tr, &va, 1);
    check_case(ctx, "autolora beta_3,2", p, &tr, &va, 14);
    ar_padded_batch_free(&tr.pb);
    ar_padded_batch_free(&va.pb);
    ar_encoded_free(train);
    ar_encoded_free(val);
    ar_ctx_free(ctx);
    return test_finish("hypergrad");
}

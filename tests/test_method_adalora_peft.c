/* AdaLoRA against PEFT's own (peft 0.10): tests/fixtures/gen_adalora.py trained the tiny BERT
 * (bert_tiny/) for 12 steps with PEFT's AdaLoraModel and RankAllocator in float64 and recorded
 * everything in adalora_peft.bin. This test loads the same checkpoint, writes PEFT's initial
 * lora_A, lora_E, lora_B (our Q, λ, P: the same layouts, s = α/r0) and classifier into the arena,
 * trains the same batches (the trainer's own epoch order, which the script re-implements) with
 * the same AdamW, clipping and AdaLoRA settings, and compares step by step:
 *   - the task loss of every step and PEFT's orthogonality term (what AdaLoraModel.forward adds
 *     to it) at every step's parameters;
 *   - the global gradient norm every step clipped, regulariser included;
 *   - every gradient after step 1's backward (task + regulariser) and the classifier's;
 *   - the budget and the triplet scores each mask ranked, the rank pattern after every step
 *     (exactly), and λ after the last step.
 *
 * Tolerances extend test.h's policy (test_tolerance(k, scale), scale = max |reference|):
 *   - step 1 gradients: K_BWD of test_model_bert.c (the backward chain of the tiny model, 2 × the
 *     forward's 2·(2·353 + 72 + 72)); the regulariser's part is a shorter chain (Q·Qᵀ: k = 72).
 *   - losses, orthogonality terms and gradient norms of step t (0-based): the AdamW trajectory
 *     bound of model_check.h's check_adamw, (1 + t)·test_tolerance(K_FWD, max(|ref_0|, 1)): each
 *     Adam step can move a parameter by up to lr whatever its gradient's float32 error.
 *   - the scores: a product of the two EMAs of I = |p·∇p| (eqs. 8–9), each carrying the gradient's
 *     error and the trajectory's; Ū is an EMA of |I − Ī|, which cancels where I ≈ Ī, so the bound
 *     is taken on the scale of the largest score: 2·(1 + t)·test_tolerance(K_BWD, max |S|) (2: two
 *     factors).
 *   - the pattern must match exactly: gen_adalora.py chose the seed whose masks have the widest
 *     gap between the threshold and the nearest score (0.49% relative), far above these bounds.
 *   - λ after 12 steps: the trajectory bound at t = 12 on max |λ|.
 * The measured worst errors are printed as fractions of their tolerances. */
#include "adarank/dataset.h"
#include "adarank/method.h"
#include "method_adalora.h"
#include "model_check.h"

/* Tiny model: C 72, D 24, T 13, I 100, L 2 (test_model_bert.c's derivation). */
#define K_FWD (2.0 * (2 * 353 + 72 + 72))
#define K_BWD (2.0 * K_FWD)
#define STEPS 12
#define GATES 24 /* 4 modules × init_r 6 */

struct run {
    struct ar_ctx *ctx;
    struct ar_model *model;
    struct ar_method *method;
    const struct fixture *fx;
    double loss[STEPS], orth[STEPS], grad_norm[STEPS], budget[STEPS];
    float score[STEPS][GATES];
    unsigned char pattern[STEPS][GATES];
    int steps;
};

static struct adalora_state *state_of(struct ar_method *m)
{
    return m->state;
}

/* Step 1's gradients (task + regulariser, before clipping) against PEFT's. */
static enum ar_status after_backward(void *user, struct ar_trainer *t,
                                     const struct ar_train_state *s)
{
    (void)t;
    struct run *r = user;
    if (s->step < STEPS)
        r->orth[s->step] = ar__adalora_orth_loss(r->method);
    if (s->step != 0)
        return AR_STATUS_OK;
    const char *part[] = {"lora_A", "lora_E", "lora_B"};
    for (int i = 0; i < ar_model_module_count(r->model); i++) {
        const struct ar_model_module *mod = ar_model_module(r->model, i);
        size_t off[] = {mod->a_off, mod->gate_off, mod->b_off};
        for (int k = 0; k < 3; k++) {
            char name[64];
            snprintf(name, sizeof name, "%d.%s", i, part[k]);
            arena_tensor(r->ctx, r->model, r->fx, name, off[k], false, K_BWD);
        }
    }
    const struct ar_arena_layout *layout = ar_model_arena(r->model)->layout;
    const char *head[] = {"classifier.weight", "classifier.bias"};
    for (int k = 0; k < 2; k++) {
        const struct ar_arena_slice *sl = ar_arena_layout_find(layout, head[k]);
        CHECK(sl != NULL, "no %s slice", head[k]);
        if (sl)
            arena_tensor(r->ctx, r->model, r->fx, head[k], sl->offset, false, K_BWD);
    }
    return AR_STATUS_OK;
}

/* After the method's own after_step: the pattern, and the scores and budget it ranked. */
static enum ar_status after_step(void *user, struct ar_trainer *t, const struct ar_train_state *s)
{
    (void)t;
    struct run *r = user;
    const struct adalora_state *a = state_of(r->method);
    int step = s->step - 1;
    if (step < 0 || step >= STEPS)
        return AR_STATUS_OK;
    memcpy(r->pattern[step], a->keep, GATES);
    memcpy(r->score[step], a->score, sizeof r->score[step]);
    r->budget[step] = a->budget;
    r->steps = step + 1;
    return AR_STATUS_OK;
}

static enum ar_status on_event(void *user, struct ar_trainer *t, const struct ar_train_event *ev)
{
    (void)t;
    struct run *r = user;
    int step = ev->state->step - 1;
    if (ev->kind == AR_TRAIN_EVENT_STEP && step >= 0 && step < STEPS)
        r->loss[step] = ev->loss, r->grad_norm[step] = ev->grad_norm;
    return AR_STATUS_OK;
}

/* The fixture's examples as an encoded set (type ids 0). */
static struct ar_encoded *fixture_set(const struct fixture *f)
{
    size_t n_ids = 0, n_off = 0, n_lab = 0;
    const double *ids = fx(f, "ids", &n_ids), *off = fx(f, "offsets", &n_off);
    const double *lab = fx(f, "labels", &n_lab);
    if (!ids || !off || !lab || n_off != n_lab + 1)
        return NULL;
    struct ar_encoded *s = calloc(1, sizeof *s);
    s->count = (int)n_lab;
    s->num_labels = 3;
    s->offsets = calloc(n_off, sizeof *s->offsets);
    s->ids = calloc(n_ids, sizeof *s->ids);
    s->type_ids = calloc(n_ids, sizeof *s->type_ids);
    s->labels = calloc(n_lab, sizeof *s->labels);
    s->lines = calloc(n_lab, sizeof *s->lines);
    for (size_t i = 0; i < n_off; i++)
        s->offsets[i] = (int64_t)off[i];
    for (size_t i = 0; i < n_ids; i++)
        s->ids[i] = (int32_t)ids[i];
    for (size_t i = 0; i < n_lab; i++) {
        s->labels[i] = (int32_t)lab[i];
        s->lines[i] = (int32_t)i + 1;
        int len = (int)(off[i + 1] - off[i]);
        s->max_len = len > s->max_len ? len : s->max_len;
    }
    return s;
}

/* PEFT's initial values into the arena, over what ar_method_new drew. */
static void load_initial(struct run *r)
{
    struct ar_arena *arena = ar_model_arena(r->model);
    const char *part[] = {"lora_A", "lora_E", "lora_B"};
    for (int i = 0; i < ar_model_module_count(r->model); i++) {
        const struct ar_model_module *mod = ar_model_module(r->model, i);
        size_t off[] = {mod->a_off, mod->gate_off, mod->b_off};
        size_t want[] = {(size_t)mod->rank * mod->in, (size_t)mod->rank,
                         (size_t)mod->out * mod->rank};
        for (int k = 0; k < 3; k++) {
            char name[64];
            snprintf(name, sizeof name, "init.%d.%s", i, part[k]);
            const struct fixture_array *a = fixture_find(r->fx, name);
            CHECK(a && a->count == want[k], "fixture %s: %zu values, want %zu", name,
                  a ? a->count : 0, want[k]);
            if (a && a->count == want[k])
                CHECK_OK(r->ctx, ar_mem_write(r->ctx, ar_mem_at(arena->param, off[k]), a->f32,
                                              a->count));
        }
    }
    const char *head[] = {"classifier.weight", "classifier.bias"};
    for (int k = 0; k < 2; k++) {
        char name[64];
        snprintf(name, sizeof name, "init.%s", head[k]);
        const struct ar_arena_slice *sl = ar_arena_layout_find(arena->layout, head[k]);
        const struct fixture_array *a = fixture_find(r->fx, name);
        CHECK(sl && a && a->count == sl->count, "%s: slice or fixture missing", name);
        if (sl && a && a->count == sl->count)
            CHECK_OK(r->ctx, ar_mem_write(r->ctx, ar_mem_at(arena->param, sl->offset), a->f32,
                                          a->count));
    }
}

/* |got − ref| ≤ tol, and the worst ratio for the report. */
static double check_value(const char *what, int step, double got, double ref, double tol)
{
    CHECK(fabs(got - ref) <= tol, "%s (%d): %.9g want %.9g (err %.3g > tol %.3g)", what,
          step, got, ref, fabs(got - ref), tol);
    return fabs(got - ref) / tol;
}

static void compare(struct run *r)
{
    const struct fixture *f = r->fx;
    const double *loss = fx(f, "loss", NULL), *orth = fx(f, "orth", NULL);
    const double *norm = fx(f, "grad_norm", NULL), *masked = fx(f, "masked", NULL);
    const double *budget = fx(f, "budget", NULL), *score = fx(f, "score", NULL);
    const double *pattern = fx(f, "pattern", NULL);
    if (!loss || !orth || !norm || !masked || !budget || !score || !pattern)
        return;
    CHECK(r->steps == STEPS, "trained %d steps, want %d", r->steps, STEPS);
    double w_loss = 0, w_orth = 0, w_norm = 0, w_score = 0;
    int masks = 0;
    for (int t = 0; t < r->steps; t++) {
        double grow = 1.0 + t;
        w_loss = fmax(w_loss, check_value("loss at step", t, r->loss[t], loss[t],
                                          grow * test_tolerance(K_FWD, fmax(fabs(loss[0]), 1))));
        w_orth = fmax(w_orth, check_value("orthogonality term at step", t, r->orth[t], orth[t],
                                          grow * test_tolerance(K_FWD, fmax(fabs(orth[0]), 1))));
        w_norm = fmax(w_norm, check_value("gradient norm at step", t, r->grad_norm[t], norm[t],
                                          grow * test_tolerance(K_BWD, fmax(norm[0], 1))));
        int same = 0;
        for (int g = 0; g < GATES; g++)
            same += r->pattern[t][g] == (pattern[t * GATES + g] != 0);
        CHECK(same == GATES, "step %d: the rank pattern differs from PEFT's in %d of %d", t,
              GATES - same, GATES);
        if (masked[t] == 0)
            continue;
        masks++;
        CHECK((int)r->budget[t] == (int)budget[t], "step %d: budget %g, PEFT's %g", t,
              r->budget[t], budget[t]);
        const double *ref = score + (size_t)t * GATES;
        double tol = 2.0 * grow * test_tolerance(K_BWD, test_max_abs(ref, GATES));
        for (int g = 0; g < GATES; g++)
            w_score = fmax(w_score, check_value("score at step", t, r->score[t][g], ref[g], tol));
    }
    CHECK(masks == 5, "PEFT masked at %d steps, the fixture has 5 (4 budgets, 1 final)", masks);
    printf("  %d steps: losses %.6f -> %.6f, orthogonality %.4f -> %.4f, %d masks\n", r->steps,
           loss[0], loss[STEPS - 1], orth[0], orth[STEPS - 1], masks);
    printf("  worst error / tolerance: loss %.3g, orthogonality %.3g, gradient norm %.3g, "
           "scores %.3g; step-1 gradients %.3g\n",
           w_loss, w_orth, w_norm, w_score, worst_ratio);
}

/* λ after the last step: exactly 0 where PEFT's is (masked), close elsewhere. */
static void compare_final_lambda(struct run *r)
{
    struct ar_arena *arena = ar_model_arena(r->model);
    for (int i = 0; i < ar_model_module_count(r->model); i++) {
        const struct ar_model_module *mod = ar_model_module(r->model, i);
        char name[64];
        snprintf(name, sizeof name, "final.%d.lora_E", i);
        size_t n = 0;
        const double *ref = fx(r->fx, name, &n);
        float got[6];
        if (!ref || n != 6 || mod->rank != 6)
            continue;
        CHECK_OK(r->ctx, ar_mem_read(r->ctx, ar_mem_at(arena->param, mod->gate_off), got, 6));
        double tol = (1.0 + STEPS) * test_tolerance(K_FWD, test_max_abs(ref, 6));
        for (int j = 0; j < 6; j++) {
            CHECK((ref[j] == 0) == (got[j] == 0.0f), "module %d λ_%d: %g, PEFT's %g", i, j,
                  (double)got[j], ref[j]);
            check_value("final λ of module", i, got[j], ref[j], tol);
        }
    }
}

int main(void)
{
    struct ar_ctx *ctx = test_open_ctx();
    struct fixture f = {0};
    if (load_fx("adalora_peft.bin", &f)) {
        CHECK(0, "cannot load adalora_peft.bin");
        return test_finish("method_adalora_peft");
    }
    const double *cfg = fx(&f, "config", NULL), *hyper = fx(&f, "hyper", NULL);
    /* init_r, target_r, alpha, tinit, tfinal, deltaT, total_step, batch */
    CHECK(cfg && cfg[0] == 6 && cfg[6] == STEPS, "fixture config: init_r 6, %d steps", STEPS);
    struct ar_model_options o = ar_model_default_options();
    o.num_labels = 3;
    o.target_modules = "query,value";
    o.rank = 6;
    o.lora_alpha = cfg ? (float)cfg[2] : 12.0f;
    o.hidden_dropout = 0.0f; /* PEFT's run has no dropout */
    o.max_batch = 4;
    o.max_time = 16;
    o.seed = 7;
    struct run r = {.ctx = ctx, .fx = &f};
    CHECK_OK(ctx, ar_model_load(ctx, data_path("bert_tiny"), &o, &r.model));
    struct ar_method_params mp = ar_method_default_params(AR_METHOD_ADALORA);
    mp.adalora.target_rank = cfg ? (int)cfg[1] : 3;
    mp.adalora.tinit = cfg ? (int)cfg[3] : 1;
    mp.adalora.tfinal = cfg ? (int)cfg[4] : 3;
    mp.adalora.delta_t = cfg ? (int)cfg[5] : 2;
    mp.adalora.beta1 = hyper ? (float)hyper[0] : 0.8f;
    mp.adalora.beta2 = hyper ? (float)hyper[1] : 0.9f;
    mp.adalora.orth_reg = hyper ? (float)hyper[2] : 0.5f;
    struct ar_encoded *set = fixture_set(&f);
    if (r.model && set && cfg && hyper) {
        CHECK_OK(ctx, ar_method_new(ctx, r.model, &mp, 1, &r.method));
        load_initial(&r);
        struct ar_train_params tp = ar_train_default_params();
        tp.lr = hyper[3];
        tp.weight_decay = 0.01;
        tp.beta1 = 0.9, tp.beta2 = 0.999, tp.eps = 1e-8;
        tp.schedule = AR_LR_SCHEDULE_CONSTANT;
        tp.warmup_steps = 0;
        tp.max_grad_norm = hyper[4];
        tp.batch_size = (int)cfg[7];
        tp.grad_accum = 1;
        tp.max_steps = STEPS;
        tp.eval_every = 0;
        tp.log_every = 1;
        tp.seed = 3; /* gen_adalora.py's ORDER_SEED */
        tp.pad_id = 0;
        struct ar_trainer *t = NULL;
        CHECK_OK(ctx, ar_trainer_new(ctx, r.model, &tp, set, NULL, &t));
        CHECK_OK(ctx, ar_method_attach(r.method, t)); /* its hooks run before ours */
        struct ar_train_hooks hooks = {.user = &r, .after_backward = after_backward,
                                       .after_step = after_step, .on_event = on_event};
        CHECK_OK(ctx, ar_trainer_add_hooks(t, &hooks));
        printf("AdaLoRA vs peft 0.10 on the tiny BERT (4 modules, init_r 6 -> target_r 3)\n");
        CHECK_OK(ctx, ar_trainer_run(t));
        compare(&r);
        compare_final_lambda(&r);
        ar_trainer_free(t);
    }
    ar_method_free(r.method);
    ar_encoded_free(set);
    ar_model_free(r.model);
    free_held();
    fixture_free(&f);
    ar_ctx_free(ctx);
    return test_finish("method_adalora_peft");
}

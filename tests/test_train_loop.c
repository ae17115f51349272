/* The training loop on the tiny BERT fixture (2 layers, hidden 72, 3 classes): hook order per
 * step, gradient accumulation equal to one big batch, the stop flag, early stopping, and refusal
 * of bad parameters. Token ids come from a toy encoder (no tokenizer needed). */
#include "test.h"
#include "toy_data.h"

static char model_dir[1024];

static struct ar_model *load_model(struct ar_ctx *ctx)
{
    struct ar_model_options o = ar_model_default_options();
    o.num_labels = 3;
    o.rank = 4;
    o.lora_alpha = 8;
    o.hidden_dropout = 0; /* exact comparisons need no dropout */
    o.max_batch = 8;
    o.max_time = 16;
    o.seed = 11;
    struct ar_model *m = NULL;
    CHECK_OK(ctx, ar_model_load(ctx, model_dir, &o, &m));
    return m;
}

/* ---- hook order ---------------------------------------------------------------------------- */

struct trace {
    char seq[256];
    int n, steps, evals, starts, ends, stop_at;
    enum ar_status end_status;
    volatile sig_atomic_t *stop;
    float *grad; /* after_step of step 1: the accumulated gradient */
    size_t grad_n;
};

static void put(struct trace *t, char c)
{
    if (t->n < 255)
        t->seq[t->n++] = c;
}

static enum ar_status h_fwd(void *u, struct ar_trainer *t, const struct ar_train_state *s)
{
    (void)t;
    CHECK(s->batch != NULL, "before_forward sees the batch");
    put(u, 'F');
    return AR_STATUS_OK;
}

static enum ar_status h_bwd(void *u, struct ar_trainer *t, const struct ar_train_state *s)
{
    (void)t, (void)s;
    put(u, 'B');
    return AR_STATUS_OK;
}

static enum ar_status h_step(void *u, struct ar_trainer *t, const struct ar_train_state *s)
{
    struct trace *tr = u;
    put(tr, 'S');
    if (s->step == 1 && tr->grad) {
        struct ar_arena *arena = ar_model_arena(ar_trainer_model(t));
        ar_mem_read(ar_trainer_ctx(t), arena->grad, tr->grad, tr->grad_n);
    }
    if (tr->stop && s->step == tr->stop_at)
        *tr->stop = 1;
    return AR_STATUS_OK;
}

static enum ar_status h_event(void *u, struct ar_trainer *t, const struct ar_train_event *ev)
{
    (void)t;
    struct trace *tr = u;
    tr->starts += ev->kind == AR_TRAIN_EVENT_START;
    tr->steps += ev->kind == AR_TRAIN_EVENT_STEP;
    tr->evals += ev->kind == AR_TRAIN_EVENT_EVAL;
    if (ev->kind == AR_TRAIN_EVENT_EVAL)
        CHECK(ev->eval && ev->eval->count > 0 && !strcmp(ev->split, "validation"), "eval");
    if (ev->kind == AR_TRAIN_EVENT_END)
        tr->ends++, tr->end_status = ev->status;
    return AR_STATUS_OK;
}

static enum ar_status run(struct ar_ctx *ctx, struct ar_model *m, const struct ar_train_params *p,
                          const struct ar_encoded *train, const struct ar_encoded *val,
                          struct trace *tr, struct ar_trainer **keep)
{
    struct ar_trainer *t = NULL;
    enum ar_status st = ar_trainer_new(ctx, m, p, train, val, &t);
    if (st != AR_STATUS_OK)
        return st;
    struct ar_train_hooks h = {tr, h_fwd, h_bwd, h_step, h_event};
    ar_trainer_add_hooks(t, &h);
    st = ar_trainer_run(t);
    if (keep)
        *keep = t;
    else
        ar_trainer_free(t);
    return st;
}

int main(void)
{
    const char *data = getenv("ADARANK_TEST_DATA");
    snprintf(model_dir, sizeof model_dir, "%s/fixtures/bert_tiny", data ? data : "tests");
    struct ar_ctx *ctx = test_open_ctx();
    struct ar_encoded *train = toy_reviews(24, 3, "loop.tsv");
    struct ar_encoded *val = toy_reviews(9, 3, "loop.tsv");
    if (!train || !val)
        return test_finish("train_loop");

    /* 1. order: per step k × (F B), then S; events START, STEP per log, EVAL, END */
    struct ar_model *m = load_model(ctx);
    struct ar_train_params p = ar_train_default_params();
    p.batch_size = 4, p.grad_accum = 2, p.max_steps = 3, p.eval_every = 2, p.log_every = 1;
    p.eval_batch_size = 8;
    struct trace tr = {0};
    CHECK_OK(ctx, run(ctx, m, &p, train, val, &tr, NULL));
    CHECK(!strcmp(tr.seq, "FBFBSFBFBSFBFBS"), "hook order %s", tr.seq);
    CHECK(tr.starts == 1 && tr.steps == 3 && tr.evals == 2 && tr.ends == 1 &&
              tr.end_status == AR_STATUS_OK,
          "events: %d %d %d %d", tr.starts, tr.steps, tr.evals, tr.ends);
    ar_model_free(m);

    /* 2. accumulation: 2 micro-batches of 2 give the gradient of one batch of 4 (same examples:
     * the epoch order depends on the seed only). Clipping off so grad_scale is 1. */
    struct ar_model *ma = load_model(ctx), *mb = load_model(ctx);
    size_t n = ma && mb ? ar_model_arena(ma)->total : 0;
    float *ga = calloc(n + 1, sizeof *ga), *gb = calloc(n + 1, sizeof *gb);
    double *ref = calloc(n + 1, sizeof *ref);
    p = ar_train_default_params();
    p.max_steps = 1, p.max_grad_norm = 0, p.log_every = 0, p.seed = 9;
    struct trace ta = {.grad = ga, .grad_n = n}, tb = {.grad = gb, .grad_n = n};
    p.batch_size = 4, p.grad_accum = 1;
    CHECK_OK(ctx, run(ctx, ma, &p, train, NULL, &ta, NULL));
    p.batch_size = 2, p.grad_accum = 2;
    CHECK_OK(ctx, run(ctx, mb, &p, train, NULL, &tb, NULL));
    double norm = 0;
    for (size_t i = 0; i < n; i++)
        ref[i] = ga[i], norm += ref[i] * ref[i];
    CHECK(norm > 0, "a non-zero gradient");
    /* k: the longest sum of the backward chain, batch·time·intermediate (4·16·100) */
    CHECK_CLOSE("accumulated gradient", ref, gb, n, 4.0 * 16 * 100);
    free(ga), free(gb), free(ref);
    ar_model_free(ma), ar_model_free(mb);

    /* 3. the stop flag: set at step 2, the loop ends there with INTERRUPTED and an END event */
    m = load_model(ctx);
    volatile sig_atomic_t stop = 0;
    p = ar_train_default_params();
    p.batch_size = 4, p.max_steps = 50, p.stop = &stop;
    struct trace ts = {.stop = &stop, .stop_at = 2};
    struct ar_trainer *t = NULL;
    enum ar_status st = run(ctx, m, &p, train, val, &ts, &t);
    CHECK(st == AR_STATUS_INTERRUPTED && ts.end_status == AR_STATUS_INTERRUPTED,
          "interrupted: %s", ar_status_name(st));
    CHECK(strstr(ar_ctx_errmsg(ctx), "interrupted at step 2 of 50"), "%s", ar_ctx_errmsg(ctx));
    ar_trainer_free(t);
    ar_model_free(m);

    /* 4. early stopping: lr so small that accuracy cannot change, patience 2: evaluations at
     * steps 1 (best), 2 and 3 (no gain) → stop after step 3 */
    m = load_model(ctx);
    p = ar_train_default_params();
    p.batch_size = 4, p.max_steps = 20, p.eval_every = 1, p.patience = 2, p.lr = 1e-12;
    p.metric = AR_EVAL_METRIC_ACCURACY, p.eval_batch_size = 8;
    struct trace te = {0};
    t = NULL;
    CHECK_OK(ctx, run(ctx, m, &p, train, val, &te, &t));
    int best_step = -1;
    CHECK(t && ar_trainer_early_stopped(t) && te.evals == 3, "early stop after %d evals",
          te.evals);
    CHECK(t && ar_trainer_best_eval(t, &best_step)->count == 9 && best_step == 1,
          "best at step %d", best_step);
    ar_trainer_free(t);

    /* 5. bad parameters and data are refused with a message */
    p = ar_train_default_params();
    p.batch_size = 0;
    CHECK(ar_trainer_new(ctx, m, &p, train, val, &t) == AR_STATUS_INVALID_ARGUMENT &&
              strstr(ar_ctx_errmsg(ctx), "batch sizes must be"),
          "%s", ar_ctx_errmsg(ctx));
    struct ar_encoded *one = toy_reviews(5, 1, "loop.tsv");
    p = ar_train_default_params();
    CHECK(one && ar_trainer_new(ctx, m, &p, one, NULL, &t) == AR_STATUS_INVALID_ARGUMENT &&
              strstr(ar_ctx_errmsg(ctx), "1 class(es)"),
          "%s", ar_ctx_errmsg(ctx));
    ar_encoded_free(one);
    ar_model_free(m);

    ar_encoded_free(train), ar_encoded_free(val);
    ar_ctx_free(ctx);
    return test_finish("train_loop");
}

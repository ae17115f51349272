/* Sequence classification with the decoders (core/model_head_last_token.c) against transformers'
 * GPT2ForSequenceClassification and LlamaForSequenceClassification: tests/fixtures/
 * gen_decoders_cls.py loaded the tiny gpt2_tiny / llama_tiny checkpoints into those classes with
 * 3 labels, set the `score` head (V, C, no bias) and gated LoRA on c_attn (GPT-2) or q_proj,
 * v_proj (Llama), and wrote a right-padded batch, the float64 logits (B, V) and loss, every LoRA
 * gradient, score's gradient and the losses of 10 AdamW steps. This test loads the checkpoints
 * with task AR_TASK_SEQ_CLS, writes the same values into the arena and matches it all; then
 * gradient accumulation, dynamic padding (a row alone, cut to its length, gives its logits: the
 * head reads the last token whose mask is 1), the head's init, and bad options and batches.
 *
 * Tolerances extend test.h's policy as tests/test_model_gpt2.c does: k is the sum of the
 * contraction lengths along the longest chain of products, per block C (c_attn / q,k,v) + D
 * (scores) + T (P·v) + C (attention output) + C (c_fc / gate,up) + I (the MLP's output), then C
 * (score), times 2 for the 2L + 1 norms' reductions on the path; backward runs the chain again,
 * so K_BWD = 2·K_FWD. The AdamW losses get the forward tolerance per step, times 1 + step
 * (model_check.h's check_adamw). */
#include "model_check.h"

/* GPT-2: C 48, D 16, T 13, I 100, L 2: per block 48+16+13+48+48+100 = 273. */
#define GPT2_K_FWD (2.0 * (2 * 273 + 48))
/* Llama: C 48, D 12, T 15, I 88, L 2: per block 48+12+15+48+48+88 = 259. */
#define LLAMA_K_FWD (2.0 * (2 * 259 + 48))

static struct ar_model_options cls_options(const char *targets)
{
    struct ar_model_options o = ar_model_default_options();
    o.task = AR_TASK_SEQ_CLS;
    o.num_labels = 3;
    o.target_modules = targets;
    o.rank = 3;
    o.lora_alpha = 6.0f;
    o.hidden_dropout = 0.1f; /* off in the parity runs: they are not training forwards */
    o.max_batch = 5;         /* larger than the fixture's batch */
    o.max_time = 16;
    o.seed = 5;
    return o;
}

static size_t score_offset(struct ar_model *m)
{
    const struct ar_arena_slice *s =
        ar_arena_layout_find(ar_model_arena(m)->layout, "score.weight");
    CHECK(s != NULL && s->count == 3 * 48 && (s->flags & AR_ARENA_DECAY),
          "arena slice score.weight (3 × 48, with weight decay)");
    return s ? s->offset : 0;
}

static struct ar_batch cls_batch(const struct fixture *f)
{
    const struct fixture_array *ids = fixture_find(f, "ids");
    return (struct ar_batch){.batch = ids ? (int)ids->dims[0] : 0,
                             .time = ids ? (int)ids->dims[1] : 0,
                             .ids = fx_ints(f, "ids", true),
                             .attn_mask = fx_ints(f, "attn_mask", true),
                             .labels = fx_ints(f, "labels", true)};
}

/* Logits (B, V) and loss of an evaluation forward at tolerance k. */
static void check_forward(struct ar_ctx *ctx, struct ar_model *m, const struct fixture *f,
                          const struct ar_batch *b, double k)
{
    size_t n = 0;
    const double *ref = fx(f, "logits", &n);
    float loss = 0, got[64];
    CHECK_OK(ctx, ar_model_forward(m, b, false, 0, &loss));
    CHECK_OK(ctx, ar_model_logits(m, got));
    if (ref && n <= 64) check_near("logits", ref, got, n, k);
    const double *want = fx(f, "loss", NULL);
    if (want)
        CHECK(fabs(loss - want[0]) <= test_tolerance(k, want[0]), "loss %.9g want %.9g",
              (double)loss, want[0]);
}

/* Each row alone, cut to its length: the same logits as in the padded batch. */
static void check_rows_alone(struct ar_ctx *ctx, struct ar_model *m, const struct fixture *f,
                             const struct ar_batch *b, double k)
{
    const double *ref = fx(f, "logits", NULL);
    for (int r = 0; ref && r < b->batch; r++) {
        int len = 0;
        for (int t = 0; t < b->time; t++)
            len += b->attn_mask[r * b->time + t];
        struct ar_batch one = {.batch = 1, .time = len, .ids = b->ids + r * b->time};
        float loss = 0, got[3];
        CHECK_OK(ctx, ar_model_forward(m, &one, false, 0, &loss));
        CHECK(isnan(loss), "no labels: loss is NaN, got %g", (double)loss);
        CHECK_OK(ctx, ar_model_logits(m, got));
        check_near("one row's logits", ref + 3 * r, got, 3, k);
    }
}

static void parity(struct ar_ctx *ctx, const char *dir, const char *file, const char *targets,
                   int modules, double k_fwd)
{
    printf("parity %s (%s)\n", dir, file);
    struct fixture f = {0};
    CHECK(load_fx(file, &f) == 0, "cannot read %s", file);
    struct ar_model_options o = cls_options(targets);
    struct ar_model *m = NULL;
    CHECK_OK(ctx, ar_model_load(ctx, data_path(dir), &o, &m));
    if (!m || !f.count) {
        ar_model_free(m);
        fixture_free(&f);
        return;
    }
    CHECK(ar_model_module_count(m) == modules, "%d modules, want %d", ar_model_module_count(m),
          modules);
    size_t score = score_offset(m);
    module_trainables(ctx, m, &f, true, 2 * k_fwd);
    arena_tensor(ctx, m, &f, "score.weight", score, true, 0);
    worst_ratio = 0;
    struct ar_batch b = cls_batch(&f);
    check_forward(ctx, m, &f, &b, k_fwd);
    CHECK_OK(ctx, ar_arena_zero_grad(ctx, ar_model_arena(m)));
    CHECK_OK(ctx, ar_model_backward(m, 1.0f));
    module_trainables(ctx, m, &f, false, 2 * k_fwd);
    arena_tensor(ctx, m, &f, "score.weight", score, false, 2 * k_fwd);
    printf("  logits, loss, %d modules' and score's gradients: worst error %.3g of its "
           "tolerance\n",
           modules, worst_ratio);
    accumulation(ctx, m);
    check_rows_alone(ctx, m, &f, &b, k_fwd);
    CHECK_OK(ctx, ar_model_forward(m, &b, false, 0, NULL)); /* check_adamw starts from b */
    check_adamw(ctx, m, &f, &b, k_fwd);
    ar_model_free(m);
    fixture_free(&f);
}

/* A new head is N(0, initializer_range²) from the seed (0.02 in both configs): the sample's std
 * over 144 draws is within 25% of it (the standard error of a std estimate is σ/sqrt(2n) ≈ 6%,
 * so 25% is 4 standard errors), the same seed gives the same head, another seed another; rank 0
 * trains the head alone. */
static void head_init(struct ar_ctx *ctx)
{
    struct ar_model_options o = cls_options("c_attn");
    o.rank = 0;
    float w1[144], w2[144], w3[144];
    for (int run = 0; run < 3; run++) {
        o.seed = run == 2 ? 6 : 5;
        struct ar_model *m = NULL;
        CHECK_OK(ctx, ar_model_load(ctx, data_path("gpt2_tiny"), &o, &m));
        if (!m) return;
        CHECK(ar_model_module_count(m) == 0, "rank 0: no adapted module");
        float *w = run == 0 ? w1 : run == 1 ? w2 : w3;
        CHECK_OK(ctx,
                 ar_mem_read(ctx, ar_mem_at(ar_model_arena(m)->param, score_offset(m)), w, 144));
        ar_model_free(m);
    }
    double sq = 0;
    for (int i = 0; i < 144; i++)
        sq += (double)w1[i] * w1[i];
    double sd = sqrt(sq / 144);
    CHECK(fabs(sd - 0.02) < 0.25 * 0.02, "score init std %.4f, want 0.02", sd);
    CHECK(!memcmp(w1, w2, sizeof w1) && memcmp(w1, w3, sizeof w1), "the head follows the seed");
    printf("head init: std %.4f (initializer_range 0.02)\n", sd);
}

static void bad_input(struct ar_ctx *ctx)
{
    struct ar_model_options o = cls_options("c_attn");
    o.num_labels = 1;
    expect_error(ctx, "gpt2_tiny", o, AR_STATUS_INVALID_ARGUMENT, "num_labels >= 2", "gpt2", NULL);
    o = cls_options("q_proj,v_proj");
    o.num_labels = 3;
    struct ar_model *m = NULL;
    CHECK_OK(ctx, ar_model_load(ctx, data_path("llama_tiny"), &o, &m));
    if (!m) return;
    int32_t ids[8] = {5, 6, 7, 8, 0, 0, 0, 0}, mask[8] = {1, 1, 1, 1, 0, 0, 0, 0};
    int32_t labels[2] = {1, 3};
    struct ar_batch b = {.batch = 2, .time = 4, .ids = ids, .attn_mask = mask, .labels = labels};
    CHECK(ar_model_forward(m, &b, false, 0, NULL) == AR_STATUS_INVALID_ARGUMENT &&
              strstr(ar_ctx_errmsg(ctx), "row 1 has no token"),
          "a row without tokens: %s", ar_ctx_errmsg(ctx));
    mask[4] = 1;
    CHECK(ar_model_forward(m, &b, false, 0, NULL) == AR_STATUS_INVALID_ARGUMENT &&
              strstr(ar_ctx_errmsg(ctx), "label 3 of row 1"),
          "label 3 of 3 classes: %s", ar_ctx_errmsg(ctx));
    labels[1] = -100;
    float loss = 0;
    CHECK_OK(ctx, ar_model_forward(m, &b, true, 1, &loss));
    CHECK(isfinite(loss), "an ignored label leaves the other row's loss: %g", (double)loss);
    CHECK_OK(ctx, ar_model_backward(m, 1.0f));
    float pooled[96];
    CHECK(ar_model_pooled_output(m, pooled) == AR_STATUS_INVALID_ARGUMENT,
          "a decoder has no pooled output");
    ar_model_free(m);
}

int main(void)
{
    struct ar_ctx *ctx = test_open_ctx();
    parity(ctx, "gpt2_tiny", "gpt2_tiny_cls.bin", "c_attn", 2, GPT2_K_FWD);
    parity(ctx, "llama_tiny", "llama_tiny_cls.bin", "q_proj,v_proj", 4, LLAMA_K_FWD);
    head_init(ctx);
    bad_input(ctx);
    free_held();
    ar_ctx_free(ctx);
    return test_finish("model_decoder_cls");
}

/* The token-classification head (AR_TASK_TOKEN_CLS) against PyTorch: tests/fixtures/
 * gen_token_cls.py ran gen_bert.py's tiny BERT (the committed bert_tiny checkpoint) with gated
 * LoRA on query,value and BertForTokenClassification's head on every token, with −100 labels on
 * [CLS], [SEP], padding and some continuation sub-tokens. This test loads bert_tiny with the task,
 * writes the same LoRA values into the arena (the head comes from the checkpoint, as
 * from_pretrained loads it) and matches logits (B·T, V), the loss, every gradient and 10 AdamW
 * losses, and ar_evaluate over the same rows (loss, token accuracy, entity F1). Then: padding
 * invariance, accumulation, dropout against finite differences, no pooler
 * (also for the "dense" target), RoBERTa's plain token head, and bad labels and tasks.
 *
 * Tolerances: test.h's policy as in test_model_bert.c (see its banner): k is the sum of the
 * contraction lengths along the longest chain, per layer C + D + T + C + C + I = 353 for the
 * tiny model, then the token classifier's C (no pooler), doubled for the LayerNorms; backward
 * runs the chain again, K_BWD = 2·K_FWD. The AdamW bound is model_check.h's check_adamw. */
#include "model_check.h"

#include "adarank/train.h"

/* C 72, D 24, T 13, I 100, L 2: per layer 72+24+13+72+72+100 = 353, then the classifier's 72. */
#define K_FWD (2.0 * (2 * 353 + 72))
#define K_BWD (2.0 * K_FWD)
#define V 3

static struct ar_model_options token_options(const char *targets, int rank, float alpha)
{
    struct ar_model_options o = ar_model_default_options();
    o.task = AR_TASK_TOKEN_CLS;
    o.num_labels = V;
    o.target_modules = targets;
    o.rank = rank;
    o.lora_alpha = alpha;
    o.max_batch = 4; /* larger than the fixture's batch: strides must use batch->time */
    o.max_time = 16;
    o.seed = 7;
    return o;
}

static struct ar_batch token_batch(const struct fixture *f)
{
    const struct fixture_array *ids = fixture_find(f, "ids");
    struct ar_batch b = {0};
    if (!ids)
        return b;
    b.batch = (int)ids->dims[0], b.time = (int)ids->dims[1];
    b.ids = fx_ints(f, "ids", true);
    b.type_ids = fx_ints(f, "type_ids", true);
    b.attn_mask = fx_ints(f, "attn_mask", true);
    b.token_labels = fx_ints(f, "token_labels", true);
    return b;
}

/* The head's slices: set (never: it is loaded) or compared with the fixture. */
static void head_tensors(struct ar_ctx *ctx, struct ar_model *m, const struct fixture *f,
                         bool params)
{
    const char *names[] = {"classifier.weight", "classifier.bias"};
    for (int i = 0; i < 2; i++) {
        const struct ar_arena_slice *s = ar_arena_layout_find(ar_model_arena(m)->layout, names[i]);
        CHECK(s != NULL, "arena has %s", names[i]);
        if (!s)
            continue;
        if (!params) {
            arena_tensor(ctx, m, f, names[i], s->offset, false, K_BWD);
            continue;
        }
        /* loaded from bert_tiny: bit-equal to the fixture's float32 start values */
        char key[64];
        snprintf(key, sizeof key, "param.%s", names[i]);
        const struct fixture_array *a = fixture_find(f, key);
        float got[V * 72];
        CHECK(a && a->count == s->count && s->count <= V * 72, "%s: %zu values", key, s->count);
        if (!a || a->count != s->count || s->count > V * 72)
            continue;
        CHECK_OK(ctx, ar_mem_read(ctx, ar_mem_at(ar_model_arena(m)->param, s->offset), got,
                                  s->count));
        CHECK(!memcmp(got, a->f32, s->count * sizeof *got), "%s is the checkpoint's", names[i]);
    }
}

static void check_logits(struct ar_ctx *ctx, struct ar_model *m, const struct fixture *f,
                         int row_from, int rows)
{
    size_t n = 0;
    const double *ref = fx(f, "logits", &n);
    float got[4 * 16 * V];
    CHECK_OK(ctx, ar_model_logits(m, got));
    if (ref)
        check_near("logits", ref + (size_t)row_from * V, got, (size_t)rows * V, K_FWD);
}

/* ar_evaluate on the fixture's rows as a tokens set, in batches of 2 (not the fixture's 3): the
 * loss is the mean over all labelled tokens, so it equals the fixture's loss (same tolerance);
 * the token accuracy is the argmax agreement of the fixture's float64 logits (no near ties
 * here: checked below), and the entity F1 that of the same argmax tags. */
static void evaluation(struct ar_ctx *ctx, struct ar_model *m, const struct fixture *f,
                       const struct ar_batch *b)
{
    int B = b->batch, T = b->time;
    int64_t offsets[5] = {0};
    int32_t ids[64], types[64], labels[64], seq[4] = {-1, -1, -1, -1};
    char *names[] = {"B-X", "I-X", "O"};
    const double *logits = fx(f, "logits", NULL);
    int correct = 0, counted = 0, n = 0, truth[16], pred[16];
    struct ar_entity_counts want = {0};
    for (int i = 0; logits && i < B; i++) {
        int len = 0, k = 0;
        for (int t = 0; t < T; t++) {
            if (!b->attn_mask[i * T + t])
                continue;
            ids[n] = b->ids[i * T + t], types[n] = b->type_ids[i * T + t];
            labels[n++] = b->token_labels[i * T + t], len++;
            int y = b->token_labels[i * T + t];
            if (y < 0)
                continue;
            const double *row = logits + (size_t)(i * T + t) * V;
            int best = row[1] > row[0] ? 1 : 0;
            best = row[2] > row[best] ? 2 : best;
            double gap = fabs(row[best] - row[(best + 1) % V]);
            CHECK(gap > 1e-4, "a near tie at row %d, token %d", i, t);
            truth[k] = y, pred[k++] = best;
            correct += best == y, counted++;
        }
        ar_entity_count((const char *const *)names, V, truth, pred, k, &want);
        offsets[i + 1] = offsets[i] + len;
    }
    struct ar_encoded set = {.count = B, .num_labels = V, .offsets = offsets, .ids = ids,
                             .type_ids = types, .labels = seq, .token_labels = labels,
                             .label_names = names, .max_len = T};
    struct ar_eval_result r;
    CHECK_OK(ctx, ar_evaluate(ctx, m, &set, 2, 0, &r, NULL));
    const double *ref = fx(f, "loss", NULL);
    CHECK(ref && fabs(r.loss - ref[0]) <= test_tolerance(K_FWD, ref[0]), "eval loss %.9g want %.9g",
          r.loss, ref ? ref[0] : NAN);
    CHECK(r.tokens == counted && r.count == B, "%lld tokens counted, want %d", (long long)r.tokens,
          counted);
    CHECK(r.accuracy == (double)correct / counted, "token accuracy %g want %d/%d", r.accuracy,
          correct, counted);
    CHECK(r.macro_f1 == ar_entity_f1(&want), "entity f1 %g want %g", r.macro_f1,
          ar_entity_f1(&want));
    printf("evaluate: %d labelled tokens, loss %.6f, accuracy %.4f, entity f1 %.4f\n", counted,
           r.loss, r.accuracy, r.macro_f1);
}

static void parity(struct ar_ctx *ctx)
{
    struct fixture f = {0};
    CHECK(load_fx("token_cls_qv.bin", &f) == 0, "cannot read token_cls_qv.bin");
    struct ar_model_options o = token_options("query,value", 4, 8.0f);
    struct ar_model *m = NULL;
    CHECK_OK(ctx, ar_model_load(ctx, data_path("bert_tiny"), &o, &m));
    if (!m || !f.count) {
        ar_model_free(m);
        fixture_free(&f);
        return;
    }
    CHECK(ar_model_module_count(m) == 4, "query,value: 4 modules, got %d",
          ar_model_module_count(m));
    const struct ar_arena_layout *layout = ar_model_arena(m)->layout;
    CHECK(!ar_arena_layout_find(layout, "classifier.dense.weight"), "no sequence head");
    module_trainables(ctx, m, &f, true, K_BWD);
    head_tensors(ctx, m, &f, true);
    worst_ratio = 0;
    struct ar_batch b = token_batch(&f);
    float loss = 0;
    CHECK_OK(ctx, ar_model_forward(m, &b, false, 0, &loss));
    check_logits(ctx, m, &f, 0, b.batch * b.time);
    const double *ref = fx(&f, "loss", NULL);
    double ref_loss = ref ? ref[0] : NAN;
    CHECK(fabs(loss - ref_loss) <= test_tolerance(K_FWD, ref_loss), "loss %.9g want %.9g",
          (double)loss, ref_loss);
    CHECK_OK(ctx, ar_arena_zero_grad(ctx, ar_model_arena(m)));
    CHECK_OK(ctx, ar_model_backward(m, 1.0f));
    module_trainables(ctx, m, &f, false, K_BWD);
    head_tensors(ctx, m, &f, false);
    printf("parity: logits, loss, 4 modules' and the head's gradients: worst error %.3g of its "
           "tolerance\n",
           worst_ratio);
    accumulation(ctx, m);
    evaluation(ctx, m, &f, &b);

    /* Dynamic padding: the last row alone, cut to its length, gives the same logits; without
     * labels the loss is NaN and backward is refused. */
    int last = b.batch - 1, len = 0;
    for (int t = 0; t < b.time; t++)
        len += b.attn_mask[last * b.time + t];
    int32_t ids[16], types[16], mask[16];
    for (int t = 0; t < len; t++) {
        ids[t] = b.ids[last * b.time + t];
        types[t] = b.type_ids[last * b.time + t];
        mask[t] = 1;
    }
    struct ar_batch one = {.batch = 1, .time = len, .ids = ids, .type_ids = types,
                           .attn_mask = mask};
    CHECK_OK(ctx, ar_model_forward(m, &one, false, 0, &loss));
    CHECK(isnan(loss), "no labels: loss is NaN, got %g", (double)loss);
    check_logits(ctx, m, &f, last * b.time, len);
    CHECK(ar_model_backward(m, 1.0f) == AR_STATUS_INVALID_ARGUMENT, "backward without a loss");
    float pooled[72];
    CHECK(ar_model_pooled_output(m, pooled) == AR_STATUS_INVALID_ARGUMENT, "no pooled output");

    check_adamw(ctx, m, &f, &b, K_FWD);
    ar_model_free(m);

    /* Training mode: hidden dropout (also on the head's input) and LoRA dropout. */
    o.hidden_dropout = 0.3f;
    o.lora_dropout = 0.2f;
    m = NULL;
    CHECK_OK(ctx, ar_model_load(ctx, data_path("bert_tiny"), &o, &m));
    if (m) {
        module_trainables(ctx, m, &f, true, K_BWD);
        check_dropout_gradients(ctx, m, &b, 1, 4);
    }
    ar_model_free(m);
    fixture_free(&f);
}

/* No pooler: "dense" adapts the three dense maps of each layer only, and nothing is named
 * pooler; RoBERTa gets the same single classifier (not RobertaClassificationHead), fresh. */
static void structure(struct ar_ctx *ctx)
{
    struct ar_model_options o = token_options("dense", 2, 4.0f);
    struct ar_model *m = NULL;
    CHECK_OK(ctx, ar_model_load(ctx, data_path("bert_tiny"), &o, &m));
    if (m) {
        CHECK(ar_model_module_count(m) == 6, "dense: 2 layers × 3 modules, got %d",
              ar_model_module_count(m));
        for (int i = 0; i < ar_model_module_count(m); i++)
            CHECK(!strstr(ar_model_module(m, i)->name, "pooler"), "module %s",
                  ar_model_module(m, i)->name);
    }
    ar_model_free(m);

    o = token_options("query", 2, 4.0f);
    o.num_labels = 5;
    o.max_batch = 2;
    o.max_time = 6;
    m = NULL;
    CHECK_OK(ctx, ar_model_load(ctx, data_path("bert_tiny/micro_roberta"), &o, &m));
    if (!m)
        return;
    const struct ar_arena_layout *layout = ar_model_arena(m)->layout;
    const struct ar_arena_slice *w = ar_arena_layout_find(layout, "classifier.weight");
    CHECK(w && w->count == 5 * 8, "RoBERTa token head classifier.weight (5, 8)");
    CHECK(!ar_arena_layout_find(layout, "classifier.out_proj.weight"), "no out_proj");
    int32_t ids[12] = {0, 5, 6, 7, 2, 1, 0, 8, 2, 1, 1, 1};
    int32_t mask[12] = {1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0};
    int32_t labels[12] = {-100, 4, 0, 1, -100, -100, -100, 3, -100, -100, -100, -100};
    struct ar_batch b = {.batch = 2, .time = 6, .ids = ids, .attn_mask = mask,
                         .token_labels = labels};
    float loss = 0, logits[12 * 5];
    CHECK_OK(ctx, ar_model_forward(m, &b, false, 0, &loss));
    /* a fresh head, N(0, 0.02²): the logits are small and the loss is near log 5 */
    CHECK(fabs(loss - log(5.0)) < 0.1, "fresh-head loss %g near log 5", (double)loss);
    CHECK_OK(ctx, ar_model_logits(m, logits));
    CHECK(isfinite(logits[59]), "logits (B·T, V) readable");
    CHECK_OK(ctx, ar_arena_zero_grad(ctx, ar_model_arena(m)));
    CHECK_OK(ctx, ar_model_backward(m, 1.0f));
    labels[1] = 5; /* ≥ num_labels */
    CHECK(ar_model_forward(m, &b, false, 0, &loss) == AR_STATUS_INVALID_ARGUMENT, "label 5 of 5");
    CHECK(strstr(ar_ctx_errmsg(ctx), "label 5 of row 1") != NULL, "names the row: %s",
          ar_ctx_errmsg(ctx));
    ar_model_free(m);

    o = token_options("c_attn", 2, 4.0f);
    expect_error(ctx, "gpt2_tiny", o, AR_STATUS_UNSUPPORTED, "gpt2", NULL, NULL);
    o = token_options("query", 2, 4.0f);
    o.num_labels = 1;
    expect_error(ctx, "bert_tiny", o, AR_STATUS_INVALID_ARGUMENT, "token classification",
                 "1 labels", NULL);
}

int main(void)
{
    struct ar_ctx *ctx = test_open_ctx();
    parity(ctx);
    structure(ctx);
    free_held();
    ar_ctx_free(ctx);
    return test_finish("model_token_cls");
}

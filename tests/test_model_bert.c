/* The BERT/RoBERTa engine against PyTorch (llm.c's debug-state test): tests/fixtures/gen_bert.py
 * wrote a random tiny BERT in HF format, the LoRA/gate/head values, the float64 logits, loss,
 * every trainable gradient and the losses of 10 torch.optim.AdamW steps; this test loads the
 * checkpoint with ar_model_load, writes the same trainable values into the arena and matches it
 * all. Then: padding invariance, gradient accumulation, dropout against finite differences,
 * RoBERTa and the old tensor names, a fresh head, bad checkpoints and bad batches, and (with
 * $ADARANK_MODEL_DIR) the real all-MiniLM-L6-v2 against transformers' BertModel.
 *
 * Tolerances extend test.h's policy, test_tolerance(k, scale) with scale = max |reference|. For a
 * whole network, k is the sum of the contraction lengths along the longest chain of products
 * (the policy's rule for chained results): per layer C (q/k/v) + D (scores) + T (P·v) + C (attn
 * out) + C (FFN in) + I (FFN out), then C (pooler) + C (classifier). Forward K_FWD uses that sum
 * for the tiny model, times 2 because each of the 2L + 1 LayerNorms on the path adds one more
 * length-C reduction (its variance) whose error the division by the standard deviation carries
 * forward; backward runs the chain again in reverse, so K_BWD = 2·K_FWD.
 * The AdamW trajectory is compared with a bound that grows with the steps, see model_check.h's
 * check_adamw.
 * Measured on PoCL's CPU device: the worst element reaches 1-2% of these tolerances (logits, loss,
 * gradients; MiniLM's hidden states 1.2%), the AdamW losses 0.1%: the bounds are the policy's, not
 * fitted to this device. */
#include "model_check.h"

/* Tiny model: C 72, D 24, T 13, I 100, L 2: per layer 72+24+13+72+72+100 = 353. */
#define K_FWD (2.0 * (2 * 353 + 72 + 72))
#define K_BWD (2.0 * K_FWD)

/* A copy the caller frees (the fixture's own doubles are fx() in model_check.h). */
static double *fx_doubles(const struct fixture *f, const char *name, size_t *n)
{
    const struct fixture_array *a = fixture_find(f, name);
    double *v = a ? malloc(a->count * sizeof *v) : NULL;
    if (v) {
        memcpy(v, a->f64, a->count * sizeof *v);
        if (n)
            *n = a->count;
    }
    return v;
}

static struct ar_model_options tiny_options(const char *targets, int rank, float alpha)
{
    struct ar_model_options o = ar_model_default_options();
    o.num_labels = 3;
    o.target_modules = targets;
    o.rank = rank;
    o.lora_alpha = alpha;
    o.hidden_dropout = 0.1f; /* off: the parity runs are not training runs */
    o.max_batch = 4;         /* larger than the fixture's batch: strides must use batch->time */
    o.max_time = 16;
    o.seed = 7;
    return o;
}

static struct ar_batch fixture_batch(const struct fixture *f, const char *prefix)
{
    char name[128];
    snprintf(name, sizeof name, "%sids", prefix);
    const struct fixture_array *ids = fixture_find(f, name);
    struct ar_batch b = {.batch = (int)ids->dims[0], .time = (int)ids->dims[1],
                         .ids = fx_ints(f, name, false)};
    snprintf(name, sizeof name, "%stype_ids", prefix);
    b.type_ids = fx_ints(f, name, false);
    snprintf(name, sizeof name, "%sattn_mask", prefix);
    b.attn_mask = fx_ints(f, name, false);
    snprintf(name, sizeof name, "%slabels", prefix);
    b.labels = fx_ints(f, name, false);
    return b;
}

/* Every module's A, B, gate and the head: set from or checked against the fixture. */
static void all_trainables(struct ar_ctx *ctx, struct ar_model *m, const struct fixture *f, bool set)
{
    module_trainables(ctx, m, f, set, K_BWD);
    const struct ar_arena_layout *layout = ar_model_arena(m)->layout;
    for (size_t i = 0; i < ar_arena_layout_count(layout); i++) {
        const struct ar_arena_slice *s = ar_arena_layout_slice(layout, i);
        if (!strncmp(s->name, "classifier.", 11))
            arena_tensor(ctx, m, f, s->name, s->offset, set, K_BWD);
    }
}

/* query,value leaves the key member of each q/k/v group unadapted: its gradients are exactly 0. */
static void untargeted_zero(struct ar_ctx *ctx, struct ar_model *m)
{
    const struct ar_arena_layout *layout = ar_model_arena(m)->layout;
    const struct ar_model_module *q = ar_model_module(m, 0), *v = ar_model_module(m, 1);
    if (strstr(v->name, ".key"))
        return; /* all q/k/v are targets */
    size_t r = (size_t)q->rank, in = (size_t)q->in;
    const struct ar_arena_slice *s =
        ar_arena_layout_find(layout, "bert.encoder.layer.0.attention.self.qkv.lora_A");
    CHECK(s && s->count == 3 * r * in, "qkv lora_A slice (G·R, in)");
    float g[3 * 8 * 72];
    if (!s || s->count > sizeof g / sizeof g[0])
        return;
    CHECK_OK(ctx, ar_mem_read(ctx, ar_mem_at(ar_model_arena(m)->grad, s->offset), g, s->count));
    double sum = 0;
    for (size_t i = r * in; i < 2 * r * in; i++)
        sum += fabs(g[i]);
    CHECK(sum == 0, "key rows of the qkv group's dA are %g, want 0", sum);
}

static void check_logits(struct ar_ctx *ctx, struct ar_model *m, const struct fixture *f,
                         const char *name, int rows_from, int rows, int v)
{
    size_t n = 0;
    double *ref = fx_doubles(f, name, &n);
    float got[64];
    CHECK_OK(ctx, ar_model_logits(m, got));
    check_near(name, ref + (size_t)rows_from * (size_t)v, got, (size_t)(rows * v), K_FWD);
    free(ref);
}

static void parity(struct ar_ctx *ctx, const char *fixture, const char *targets, int rank,
                   float alpha, int want_modules)
{
    printf("parity %s (targets %s, rank %d)\n", fixture, targets, rank);
    struct fixture f = {0};
    CHECK(load_fx(fixture, &f) == 0, "cannot read %s", fixture);
    struct ar_model *m = NULL;
    struct ar_model_options o = tiny_options(targets, rank, alpha);
    CHECK_OK(ctx, ar_model_load(ctx, data_path("bert_tiny"), &o, &m));
    if (!m || !f.count) {
        ar_model_free(m);
        fixture_free(&f);
        return;
    }
    CHECK(ar_model_module_count(m) == want_modules, "%d modules, want %d",
          ar_model_module_count(m), want_modules);
    CHECK(!strcmp(ar_model_module(m, 0)->name, "bert.encoder.layer.0.attention.self.query"),
          "first module %s", ar_model_module(m, 0)->name);
    CHECK(fabsf(ar_model_module(m, 0)->scale - alpha / (float)rank) < 1e-6f, "scale");
    all_trainables(ctx, m, &f, true);
    worst_ratio = 0;
    struct ar_batch b = fixture_batch(&f, "");
    float loss = 0;
    CHECK_OK(ctx, ar_model_forward(m, &b, false, 0, &loss));
    check_logits(ctx, m, &f, "logits", 0, b.batch, 3);
    double *ref = fx_doubles(&f, "loss", NULL), ref_loss = ref ? ref[0] : NAN;
    free(ref);
    CHECK(fabs(loss - ref_loss) <= test_tolerance(K_FWD, ref_loss), "loss %.9g want %.9g",
          (double)loss, ref_loss);
    CHECK_OK(ctx, ar_arena_zero_grad(ctx, ar_model_arena(m)));
    CHECK_OK(ctx, ar_model_backward(m, 1.0f));
    all_trainables(ctx, m, &f, false);
    printf("  logits, loss and %d modules' gradients: worst error %.3g of its tolerance\n",
           ar_model_module_count(m), worst_ratio);
    untargeted_zero(ctx, m);
    accumulation(ctx, m);

    /* Dynamic padding: the last row alone, cut to its length, gives the same logits. */
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
                           .attn_mask = mask, .labels = NULL};
    CHECK_OK(ctx, ar_model_forward(m, &one, false, 0, &loss));
    CHECK(isnan(loss), "no labels: loss is NaN, got %g", (double)loss);
    check_logits(ctx, m, &f, "logits", last, 1, 3);
    CHECK(ar_model_backward(m, 1.0f) == AR_STATUS_INVALID_ARGUMENT, "backward without a loss");

    check_adamw(ctx, m, &f, &b, K_FWD);
    ar_model_free(m);
    fixture_free(&f);
}

/* Training mode: hidden and LoRA dropout on. Backward must recompute exactly the forward's masks,
 * so the analytic gradient of every gate matches central finite differences of the float32 loss
 * at the same (seed, step). With h = 1e-2 the truncation error h²/6·|d³L/dg³| and the rounding
 * error eps32·sqrt(K_FWD)·|L|/h are both about 1e-5 here, so a wrong mask (which changes a
 * gradient by roughly the dropout rate, 30%) is far outside the 5% + 1e-4 allowed. The same
 * (seed, step) gives the same loss, another step another one. */
static void dropout_gradients(struct ar_ctx *ctx)
{
    struct fixture f = {0};
    CHECK(load_fx("bert_tiny_qv.bin", &f) == 0, "cannot read bert_tiny_qv.bin");
    struct ar_model_options o = tiny_options("query,value", 4, 8.0f);
    o.hidden_dropout = 0.3f;
    o.lora_dropout = 0.2f;
    struct ar_model *m = NULL;
    CHECK_OK(ctx, ar_model_load(ctx, data_path("bert_tiny"), &o, &m));
    if (!m) {
        fixture_free(&f);
        return;
    }
    all_trainables(ctx, m, &f, true);
    struct ar_batch b = fixture_batch(&f, "");
    check_dropout_gradients(ctx, m, &b, 1, 8); /* every module, all its rank-4 gates */
    ar_model_free(m);
    fixture_free(&f);
}

static void micro(struct ar_ctx *ctx)
{
    struct fixture f = {0};
    CHECK(load_fx("bert_micro.bin", &f) == 0, "cannot read bert_micro.bin");
    struct ar_model_options o = ar_model_default_options();
    o.rank = 0; /* head only */
    o.target_modules = "";
    o.max_batch = 2;
    o.max_time = 6;
    const char *kinds[] = {"bert", "roberta"};
    struct ar_model *bert = NULL;
    for (int k = 0; k < 2; k++) {
        char dir[64], prefix[32], name[64];
        snprintf(dir, sizeof dir, "bert_tiny/micro_%s", kinds[k]);
        snprintf(prefix, sizeof prefix, "%s.", kinds[k]);
        struct ar_model *m = NULL;
        CHECK_OK(ctx, ar_model_load(ctx, data_path(dir), &o, &m));
        if (!m)
            continue;
        struct ar_batch b = fixture_batch(&f, prefix);
        CHECK_OK(ctx, ar_model_forward(m, &b, false, 0, NULL));
        snprintf(name, sizeof name, "%slogits", prefix);
        check_logits(ctx, m, &f, name, 0, b.batch, 2);
        CHECK_OK(ctx, ar_model_backward(m, 1.0f));
        const struct ar_arena_layout *layout = ar_model_arena(m)->layout;
        for (size_t i = 0; i < ar_arena_layout_count(layout); i++) {
            const struct ar_arena_slice *s = ar_arena_layout_slice(layout, i);
            char key[128];
            snprintf(key, sizeof key, "%sgrad.%s", prefix, s->name);
            size_t n = 0;
            double *ref = fx_doubles(&f, key, &n);
            CHECK(ref && n == s->count, "%s: fixture has %zu values", key, n);
            float got[256];
            CHECK_OK(ctx, ar_mem_read(ctx, ar_mem_at(ar_model_arena(m)->grad, s->offset), got, n));
            if (ref)
                check_near(key, ref, got, n, K_BWD);
            free(ref);
        }
        if (k == 0)
            bert = m;
        else
            ar_model_free(m);
    }

    /* Old names, no prefix, no head: a fresh head (N(0, 0.02²), bias 0) from the seed. */
    struct ar_model *legacy = NULL, *again = NULL;
    CHECK_OK(ctx, ar_model_load(ctx, data_path("bert_tiny/micro_legacy"), &o, &legacy));
    CHECK_OK(ctx, ar_model_load(ctx, data_path("bert_tiny/micro_legacy"), &o, &again));
    if (legacy && again && bert) {
        const struct ar_arena_slice *w = ar_arena_layout_find(ar_model_arena(legacy)->layout,
                                                              "classifier.weight");
        float h1[18], h2[18];
        CHECK_OK(ctx, ar_mem_read(ctx, ar_mem_at(ar_model_arena(legacy)->param, w->offset), h1, 18));
        CHECK_OK(ctx, ar_mem_read(ctx, ar_mem_at(ar_model_arena(again)->param, w->offset), h2, 18));
        double ss = 0;
        for (int i = 0; i < 16; i++)
            ss += (double)h1[i] * h1[i];
        CHECK(!memcmp(h1, h2, 16 * sizeof(float)), "same seed, same fresh head");
        CHECK(ss > 0 && sqrt(ss / 16) < 0.06, "fresh head rms %g (want about 0.02)", sqrt(ss / 16));
        CHECK(h1[16] == 0 && h1[17] == 0, "fresh bias is 0");
        /* Give it micro_bert's head: then it is the same network under other names. */
        struct ar_arena *src = ar_model_arena(bert), *dst = ar_model_arena(legacy);
        float all[64];
        CHECK_OK(ctx, ar_mem_read(ctx, src->param, all, src->total));
        CHECK_OK(ctx, ar_mem_write(ctx, dst->param, all, dst->total));
        struct ar_batch b = fixture_batch(&f, "bert.");
        CHECK_OK(ctx, ar_model_forward(legacy, &b, false, 0, NULL));
        check_logits(ctx, legacy, &f, "bert.logits", 0, b.batch, 2);
    }
    ar_model_free(again);
    ar_model_free(legacy);
    ar_model_free(bert);
    fixture_free(&f);
}

static void bad_input(struct ar_ctx *ctx)
{
    struct ar_model_options o = ar_model_default_options();
    o.max_batch = 2;
    o.max_time = 6;
    o.rank = 2;
    expect_error(ctx, "bert_tiny/bad_shape", o, AR_STATUS_BAD_FORMAT,
                 "bert.encoder.layer.0.attention.self.key.weight", "[8, 7]", "[8, 8]");
    expect_error(ctx, "bert_tiny/bad_missing", o, AR_STATUS_BAD_FORMAT,
                 "bert.encoder.layer.0.output.dense.bias", "missing", NULL);
    expect_error(ctx, "bert_tiny/bad_config", o, AR_STATUS_BAD_FORMAT,
                 "encoder.layer.0.intermediate.dense.weight", "[12, 8]", "[20, 8]");
    o.num_labels = 3; /* the checkpoint's head has 2 */
    expect_error(ctx, "bert_tiny/micro_bert", o, AR_STATUS_BAD_FORMAT, "classifier.weight",
                 "[2, 8]", "[3, 8]");
    o.num_labels = 2;
    o.target_modules = "query,vaule";
    expect_error(ctx, "bert_tiny/micro_bert", o, AR_STATUS_INVALID_ARGUMENT, "vaule", NULL, NULL);
    o.target_modules = "query";
    o.max_time = 11; /* max_position_embeddings is 10 */
    expect_error(ctx, "bert_tiny/micro_bert", o, AR_STATUS_INVALID_ARGUMENT, "max_time 11",
                 NULL, NULL);
    o.max_time = 6;

    struct ar_model *m = NULL;
    enum ar_status st = ar_model_load(ctx, data_path("bert_tiny/no_such_model"), &o, &m);
    CHECK(st != AR_STATUS_OK && !m && strstr(ar_ctx_errmsg(ctx), "no_such_model"),
          "a missing directory: %s: %s", ar_status_name(st), ar_ctx_errmsg(ctx));
    CHECK_OK(ctx, ar_model_load(ctx, data_path("bert_tiny/micro_bert"), &o, &m));
    if (!m)
        return;
    CHECK(ar_model_module_count(m) == 1, "one query module");
    CHECK(ar_model_backward(m, 1.0f) == AR_STATUS_INVALID_ARGUMENT, "backward before forward");
    int32_t ids[6] = {2, 3, 4, 11, 0, 0}, labels[1] = {1};
    struct ar_batch b = {.batch = 1, .time = 6, .ids = ids, .labels = labels};
    CHECK(ar_model_forward(m, &b, false, 0, NULL) == AR_STATUS_INVALID_ARGUMENT, "id 11 >= 11");
    CHECK(strstr(ar_ctx_errmsg(ctx), "column 3") != NULL, "names the column: %s",
          ar_ctx_errmsg(ctx));
    ids[3] = 5;
    labels[0] = 2;
    CHECK(ar_model_forward(m, &b, false, 0, NULL) == AR_STATUS_INVALID_ARGUMENT, "label 2 of 2");
    b.batch = 3;
    labels[0] = 1;
    CHECK(ar_model_forward(m, &b, false, 0, NULL) == AR_STATUS_INVALID_ARGUMENT, "batch > max");
    b.batch = 1;
    float loss = 0;
    CHECK_OK(ctx, ar_model_forward(m, &b, true, 3, &loss));
    CHECK(isfinite(loss), "a training forward (dropout on) works: %g", (double)loss);
    CHECK_OK(ctx, ar_model_backward(m, 0.5f));
    ar_model_free(m);
}

/* The real all-MiniLM-L6-v2 against transformers' BertModel (minilm_ref.bin). */
static void minilm(struct ar_ctx *ctx)
{
    const char *dir = getenv("ADARANK_MODEL_DIR");
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "%s/model.safetensors", dir ? dir : "");
    FILE *fp = dir ? fopen(cfg, "rb") : NULL;
    if (!fp) {
        test_model_missing("minilm");
        return;
    }
    fclose(fp);
    struct fixture f = {0};
    CHECK(load_fx("minilm_ref.bin", &f) == 0, "cannot read minilm_ref.bin");
    struct ar_batch b = fixture_batch(&f, "");
    struct ar_model_options o = ar_model_default_options();
    o.max_batch = b.batch;
    o.max_time = b.time;
    struct ar_model *m = NULL;
    CHECK_OK(ctx, ar_model_load(ctx, dir, &o, &m));
    if (m) {
        CHECK_OK(ctx, ar_model_forward(m, &b, false, 0, NULL));
        size_t n = 0, np = 0;
        double *hs = fx_doubles(&f, "last_hidden_state", &n);
        double *po = fx_doubles(&f, "pooler_output", &np);
        float *got = malloc(n * sizeof *got);
        /* 6 layers of C 384, D 32, T 11, I 1536: 6·(384+32+11+384+384+1536) + 384, ×2 (LN). */
        double k = 2.0 * (6 * 2731 + 384);
        CHECK_OK(ctx, ar_model_hidden_state(m, got));
        worst_ratio = 0;
        check_near("minilm last_hidden_state", hs, got, n, k);
        CHECK_OK(ctx, ar_model_pooled_output(m, got));
        check_near("minilm pooler_output", po, got, np, k);
        printf("  worst error %.3g of its tolerance\n", worst_ratio);
        printf("minilm: %d × %d tokens checked\n", b.batch, b.time);
        free(got);
        free(hs);
        free(po);
    }
    ar_model_free(m);
    fixture_free(&f);
}

int main(void)
{
    struct ar_ctx *ctx = test_open_ctx();
    /* query,value: 2 layers × 2 modules. all-linear: 2 × 6 + the pooler. */
    parity(ctx, "bert_tiny_qv.bin", "query,value", 4, 8.0f, 4);
    parity(ctx, "bert_tiny_all.bin", "all-linear", 3, 5.0f, 13);
    dropout_gradients(ctx);
    micro(ctx);
    bad_input(ctx);
    minilm(ctx);
    free_held();
    ar_ctx_free(ctx);
    return test_finish("model_bert");
}

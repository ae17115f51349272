/* ar_peft_merge (`adarank-cl export --merged`) on every architecture and task the engine trains:
 *
 *   case               fixture         task        adapted modules                head
 *   bert_seq_cls       bert_tiny       SEQ_CLS     all-linear (with the pooler)   classifier (3)
 *   bert_token_cls     bert_tiny       TOKEN_CLS   query, value                   classifier (3)
 *   gpt2_lm            gpt2_lm         CAUSAL_LM   c_attn (out 3C), c_proj, c_fc  tied wte
 *   gpt2_seq_cls       gpt2_lm         SEQ_CLS     c_attn, c_proj, c_fc           score (2)
 *   llama_lm           llama_lm        CAUSAL_LM   q/k/v/o, gate/up/down          tied embed_tokens
 *   llama_seq_cls      llama_lm        SEQ_CLS     q/k/v/o, gate/up/down          score (3)
 *   llama_untied       llama_tiny      SEQ_CLS     q_proj, v_proj                 score (2); the
 *                                                                                 base has an
 *                                                                                 untied lm_head
 *   roberta_seq_cls    micro_roberta   SEQ_CLS     query, value                   classifier.dense
 *                                                                                 + .out_proj (2)
 *   roberta_token_cls  micro_roberta   TOKEN_CLS   query, value                   classifier (3)
 *
 * For each: the model with random LoRA factors and head (plain LoRA, rank 4, alpha 8), its logits
 * and loss on 4 right-padded rows of 12 positions (micro_roberta: 8); the adapter exported as
 * `train` does; the merge (a RoBERTa token classifier on micro_roberta, a sequence-classification
 * checkpoint, replaces its whole classifier, dense included); the merged folder loaded back by
 * ar_model_load with no adapter (rank 0; causal LM, which refuses rank 0: one rank-1 module with
 * PEFT's B = 0, which adds exactly nothing). Its logits at every real position and its loss must
 * equal the adapter model's within the tolerance policy, and the folder must hold what
 * transformers' task class expects (config.json's architectures, classes and pad token; the head;
 * the base model's tensors under its prefix, "roberta." for RoBERTa; no pooler in a token
 * classifier, no LM head in a classifier).
 * GPT-2's Conv1D weights are stored (in, out), so a fold in the wrong layout moves the logits
 * far outside the tolerance (c_attn is not even square). Bad input is refused with a message.
 *
 * OUT_DIR/<case>/ keeps adapter/, merged/ and merge.json (ids, mask, the adapter model's logits)
 * for tests/peft/roundtrip.py --merged (tests/test_peft_merge.sh runs it when transformers is
 * installed).
 *
 * usage: test_peft_merge [OUT_DIR]   (default: a test_tmpdir folder, removed at exit) */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "adarank/peft_merge.h"
#include "test.h"
#include "peft_check.h"

#define B 4  /* rows */
#define T 12 /* positions (at most: micro_roberta has 8) */
#define MAX_MODULES 32

struct merge_case {
    const char *name, *fixture;
    enum ar_task task;
    const char *task_type, *targets;
    int labels;             /* classes; 0 for causal LM */
    const char *arch_class; /* config.json's "architectures" */
    const char *head;       /* the head tensor in the merged file, NULL: none */
    const char *absent;     /* no tensor of the merged file may start with this, or NULL */
    const char *pad_line;   /* a line config.json must have, or NULL */
    const char *prefix;     /* every tensor but the head's starts with this */
    int time;               /* positions per row; 0: T */
};

static const struct merge_case cases[] = {
    {"bert_seq_cls", "bert_tiny", AR_TASK_SEQ_CLS, "SEQ_CLS", "all-linear", 3,
     "BertForSequenceClassification", "classifier.weight", NULL, NULL, "bert."},
    {"bert_token_cls", "bert_tiny", AR_TASK_TOKEN_CLS, "TOKEN_CLS", "query,value", 3,
     "BertForTokenClassification", "classifier.weight", "bert.pooler.", NULL, "bert."},
    {"gpt2_lm", "gpt2_lm", AR_TASK_CAUSAL_LM, "CAUSAL_LM", "c_attn,c_proj,c_fc", 0,
     "GPT2LMHeadModel", NULL, "score.", NULL, "transformer."},
    {"gpt2_seq_cls", "gpt2_lm", AR_TASK_SEQ_CLS, "SEQ_CLS", "c_attn,c_proj,c_fc", 2,
     "GPT2ForSequenceClassification", "score.weight", NULL, "\"pad_token_id\": 0",
     "transformer."},
    {"llama_lm", "llama_lm", AR_TASK_CAUSAL_LM, "CAUSAL_LM",
     "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj", 0, "LlamaForCausalLM", NULL,
     "score.", "\"pad_token_id\": null", "model."},
    {"llama_seq_cls", "llama_lm", AR_TASK_SEQ_CLS, "SEQ_CLS",
     "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj", 3,
     "LlamaForSequenceClassification", "score.weight", NULL, "\"pad_token_id\": 401", "model."},
    {"llama_untied", "llama_tiny", AR_TASK_SEQ_CLS, "SEQ_CLS", "q_proj,v_proj", 2,
     "LlamaForSequenceClassification", "score.weight", "lm_head.", NULL, "model."},
    /* RobertaClassificationHead (dense, tanh, out_proj on <s>) and no pooler; 2 classes, as the
     * fixture's head, which tests/peft/roundtrip.py loads the base with */
    {"roberta_seq_cls", "bert_tiny/micro_roberta", AR_TASK_SEQ_CLS, "SEQ_CLS", "query,value", 2,
     "RobertaForSequenceClassification", "classifier.out_proj.weight", "roberta.pooler.", NULL,
     "roberta.", 8},
    {"roberta_token_cls", "bert_tiny/micro_roberta", AR_TASK_TOKEN_CLS, "TOKEN_CLS",
     "query,value", 3, "RobertaForTokenClassification", "classifier.weight", "classifier.dense.",
     NULL, "roberta.", 8},
};

static const char *fixture(const char *name)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/fixtures/%s", getenv("ADARANK_TEST_DATA"), name);
    return path;
}

static struct ar_model *load(struct ar_ctx *ctx, const char *dir, const struct merge_case *c,
                             const char *targets, int rank)
{
    struct ar_model_options o = ar_model_default_options();
    o.task = c->task;
    o.num_labels = c->labels;
    o.target_modules = targets;
    o.rank = rank;
    o.lora_alpha = 8;
    o.max_batch = B;
    o.max_time = c->time ? c->time : T;
    o.seed = 7;
    struct ar_model *m = NULL;
    CHECK_OK(ctx, ar_model_load(ctx, dir, &o, &m));
    return m;
}

/* Every trainable tensor but the gates (LoRA's stay 1) becomes 0.2 · uniform[-1, 1): B ≠ 0, so
 * the adapters change the logits by O(1), and the head is random. */
static void randomize(struct ar_ctx *ctx, struct ar_model *model, unsigned long long seed)
{
    struct ar_arena *arena = ar_model_arena(model);
    for (size_t i = 0; i < ar_arena_layout_count(arena->layout); i++) {
        const struct ar_arena_slice *s = ar_arena_layout_slice(arena->layout, i);
        if (strstr(s->name, "gate"))
            continue;
        float *x = malloc(s->count * sizeof *x);
        for (size_t e = 0; e < s->count; e++)
            x[e] = 0.2f * test_uniform(&seed);
        CHECK_OK(ctx, ar_mem_write(ctx, ar_arena_view(s, arena->param), x, s->count));
        free(x);
    }
}

/* Rows of 5..time − 1 tokens (`time` positions: the case's, else T; row 0 full) with ids in
 * [5, vocab − 5) (never a special token; [5, vocab) for micro_roberta's 11, whose specials are
 * 0..3), right-padded with `pad`; labels for the task (next tokens, a class per row or per token, −100 ignored). */
struct rows {
    int time; /* the stride of the (B, time) arrays */
    int32_t ids[B * T], mask[B * T], types[B * T], labels[B], token_labels[B * T];
};

static void make_rows(struct rows *r, const struct merge_case *c, int vocab, int pad)
{
    unsigned long long seed = 11;
    memset(r, 0, sizeof *r);
    int time = r->time = c->time ? c->time : T;
    int span = vocab > 20 ? vocab - 11 : vocab - 6; /* ids 5 + [0, span] */
    for (int b = 0; b < B; b++) {
        int len = b == 0 ? time /* 5 + [0, time − 5): */
                         : 5 + (int)((test_uniform(&seed) + 1.0f) * 0.5f * (float)(time - 5));
        for (int t = 0; t < time; t++) {
            int id = 5 + (int)((test_uniform(&seed) + 1.0f) * 0.5f * (float)span);
            r->ids[b * time + t] = t < len ? id : pad;
            r->mask[b * time + t] = t < len;
        }
        for (int t = 0; t < time; t++) {
            bool next = c->task == AR_TASK_CAUSAL_LM && t + 1 < len;
            r->token_labels[b * time + t] = next ? r->ids[b * time + t + 1]
                                            : c->task == AR_TASK_TOKEN_CLS && t < len
                                                ? (b + t) % c->labels
                                                : -100;
        }
        r->labels[b] = c->labels ? b % c->labels : 0;
    }
}

/* Logits at the real positions (all of them for a classifier of rows) and the loss. */
static size_t forward(struct ar_ctx *ctx, struct ar_model *m, const struct merge_case *c,
                      const struct rows *r, int width, float *logits, double *kept, float *loss)
{
    bool rows_out = c->task == AR_TASK_SEQ_CLS;
    bool bert = ar_model_config(m)->arch == AR_ARCH_BERT;
    struct ar_batch batch = {.batch = B,
                             .time = r->time,
                             .ids = r->ids,
                             .attn_mask = r->mask,
                             .type_ids = bert ? r->types : NULL,
                             .labels = rows_out ? r->labels : NULL,
                             .token_labels = rows_out ? NULL : r->token_labels};
    CHECK_OK(ctx, ar_model_forward(m, &batch, false, 0, loss));
    CHECK_OK(ctx, ar_model_logits(m, logits));
    size_t n = 0;
    for (int p = 0; p < (rows_out ? B : B * r->time); p++)
        for (int k = 0; k < width && (rows_out || r->mask[p]); k++)
            kept[n++] = logits[(size_t)p * width + k];
    return n;
}

/* The adapter as `train` exports it (core/cli/train_outputs.c): plain LoRA factors from the
 * method, the head saved whole, fan_in_fan_out for GPT-2's Conv1D. */
static void export_adapter(struct ar_ctx *ctx, struct ar_model *model, const char *base,
                           const struct merge_case *c, const char *dir)
{
    struct ar_method_params p = ar_method_default_params(AR_METHOD_LORA);
    struct ar_method *method = NULL;
    CHECK_OK(ctx, ar_method_new(ctx, model, &p, 1, &method));
    CHECK_OK(ctx, ar_method_finish(method));
    struct ar_peft_module mods[MAX_MODULES];
    int n = peft_check_modules(ctx, model, method, NULL, mods, MAX_MODULES);
    static const char *const heads[] = {"classifier.", "score.", NULL};
    struct ar_peft_tensor head[4]; /* RoBERTa's: dense and out_proj, weight and bias */
    int n_head = peft_check_head(ctx, model, heads, head, 4);
    struct ar_peft_adapter ad = {.base_model = base,
                                 .task_type = c->task_type,
                                 .fan_in_fan_out = ar_model_config(model)->arch == AR_ARCH_GPT2,
                                 .modules = mods,
                                 .n_modules = n,
                                 .tensors = head,
                                 .n_tensors = n_head,
                                 .full_target_names = true,
                                 .method = "lora"};
    char err[1024];
    enum ar_status st = ar_peft_export(dir, &ad, err, sizeof err);
    CHECK(st == AR_STATUS_OK, "%s: export: %s", c->name, err);
    peft_check_free(mods, n, head, n_head);
    ar_method_free(method);
}

/* config.json and the tensors transformers' class expects. */
static void check_folder(const struct merge_case *c, const char *merged)
{
    char path[1400], err[1024], want[200];
    snprintf(path, sizeof path, "%s/config.json", merged);
    FILE *f = fopen(path, "rb");
    static char text[1 << 16];
    size_t len = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[len] = '\0';
    if (f)
        fclose(f);
    snprintf(want, sizeof want, "\"architectures\": [\"%s\"]", c->arch_class);
    CHECK(strstr(text, want), "%s: config.json lacks %s:\n%s", c->name, want, text);
    snprintf(want, sizeof want, "\"%d\": \"C%d\"}", c->labels - 1, c->labels - 1);
    CHECK(!c->labels || strstr(text, want), "%s: config.json: id2label of %d classes", c->name,
          c->labels);
    CHECK(!c->pad_line || strstr(text, c->pad_line), "%s: config.json lacks %s", c->name,
          c->pad_line);
    struct ar_safetensors *st = NULL;
    snprintf(path, sizeof path, "%s/model.safetensors", merged);
    CHECK(ar_safetensors_open(path, &st, err, sizeof err) == AR_STATUS_OK, "%s", err);
    if (!st)
        return;
    CHECK(!c->head || ar_safetensors_find(st, c->head), "%s: no %s", c->name, c->head);
    for (size_t i = 0; i < ar_safetensors_count(st); i++) {
        const char *name = ar_safetensors_at(st, i)->name;
        CHECK(!strstr(name, "lora_"), "%s: %s", c->name, name);
        CHECK(!c->absent || strncmp(name, c->absent, strlen(c->absent)), "%s: has %s", c->name,
              name);
        bool head = !strncmp(name, "classifier.", 11) || !strncmp(name, "score.", 6);
        CHECK(head || !strncmp(name, c->prefix, strlen(c->prefix)), "%s: %s is not under %s",
              c->name, name, c->prefix);
    }
    ar_safetensors_free(st);
}

static void write_json(const char *path, const struct merge_case *c, const struct rows *r,
                       const float *logits, int width)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "%s: cannot write", path);
    if (!f)
        return;
    fprintf(f, "{\"case\": \"%s\", \"base\": \"%s\", \"task\": \"%s\",\n \"input_ids\": [",
            c->name, fixture(c->fixture), c->task_type);
    int time = r->time;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < time; t++)
            fprintf(f, "%s%s%d%s", t ? "" : b ? ", [" : "[", t ? ", " : "", r->ids[b * time + t],
                    t == time - 1 ? "]" : "");
    fprintf(f, "],\n \"attention_mask\": [");
    for (int b = 0; b < B; b++)
        for (int t = 0; t < time; t++)
            fprintf(f, "%s%s%d%s", t ? "" : b ? ", [" : "[", t ? ", " : "", r->mask[b * time + t],
                    t == time - 1 ? "]" : "");
    bool rows_out = c->task == AR_TASK_SEQ_CLS;
    if (rows_out)
        fprintf(f, "],\n \"shape\": [%d, %d], \"logits\": [", B, width);
    else
        fprintf(f, "],\n \"shape\": [%d, %d, %d], \"logits\": [", B, time, width);
    size_t n = (size_t)B * (rows_out ? 1 : time) * width;
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%.9g", i ? ", " : "", logits[i]);
    fprintf(f, "]}\n");
    fclose(f);
}

static void run_case(struct ar_ctx *ctx, const struct merge_case *c, const char *out)
{
    char dir[1100], adapter[1200], merged[1200], json[1200], err[2048];
    snprintf(dir, sizeof dir, "%s/%s", out, c->name);
    mkdir(dir, 0777);
    snprintf(adapter, sizeof adapter, "%s/adapter", dir);
    snprintf(merged, sizeof merged, "%s/merged", dir);
    const char *base = fixture(c->fixture);
    struct ar_model *model = load(ctx, base, c, c->targets, 4);
    if (!model)
        return;
    const struct ar_model_config *cfg = ar_model_config(model);
    int width = c->labels ? c->labels : cfg->vocab_size;
    /* as `train` pads: BERT with 0, RoBERTa with its pad_token_id (from which it also numbers
     * the positions), a decoder with the config's pad token, else eos */
    bool roberta = !strcmp(cfg->model_type, "roberta");
    int pad = cfg->arch == AR_ARCH_BERT && !roberta ? 0
              : cfg->pad_token_id >= 0             ? cfg->pad_token_id
                                                   : cfg->eos_token_id;
    struct rows r;
    make_rows(&r, c, cfg->vocab_size, pad);
    size_t count = (size_t)B * T * width;
    float *logits = malloc(count * sizeof *logits), *back = malloc(count * sizeof *back);
    double *ref = malloc(count * sizeof *ref), *got = malloc(count * sizeof *got);
    float loss = 0, loss_back = 0;
    randomize(ctx, model, 5);
    size_t n = forward(ctx, model, c, &r, width, logits, ref, &loss);
    export_adapter(ctx, model, base, c, adapter);
    write_json((snprintf(json, sizeof json, "%s/merge.json", dir), json), c, &r, logits, width);

    static const char *const labels[] = {"C0", "C1", "C2", "C3", "C4"};
    enum ar_status st = ar_peft_merge(base, adapter, merged, labels, c->labels, err, sizeof err);
    CHECK(st == AR_STATUS_OK, "%s: merge: %s", c->name, err);
    check_folder(c, merged);
    /* no adapter: rank 0, or for causal LM one module with B = 0 */
    const char *one = cfg->arch == AR_ARCH_GPT2 ? "c_attn" : "q_proj";
    struct ar_model *m2 = load(ctx, merged, c, c->task == AR_TASK_CAUSAL_LM ? one : NULL,
                               c->task == AR_TASK_CAUSAL_LM ? 1 : 0);
    size_t n2 = m2 ? forward(ctx, m2, c, &r, width, back, got, &loss_back) : 0;
    CHECK(!m2 || n2 == n, "%s: %zu logits from the merged model, %zu with the adapter", c->name,
          n2, n);
    if (m2 && n2 == n) {
        /* the merge moves each adapter's r-term sum into the base weight's in-term dot product,
         * so every logit's chain is the model's: per layer the attention's and the MLP's
         * products (4·hidden + intermediate), as test_peft_roundtrip.c's */
        double k = 4.0 * cfg->hidden_size + cfg->intermediate_size;
        char what[160];
        snprintf(what, sizeof what, "%s: merged model vs base + adapter logits", c->name);
        CHECK_CLOSE(what, ref, got, n, k);
        /* |∂ cross-entropy / ∂ logits|₁ ≤ 2 per counted row, so the mean loss moves by at most
         * twice the largest logit difference allowed above */
        double scale = test_max_abs(ref, n), tol = 2.0 * test_tolerance(k, scale);
        CHECK(fabs((double)loss - (double)loss_back) <= tol + test_tolerance(width, loss),
              "%s: loss %.9g vs %.9g", c->name, loss, loss_back);
        double diff = 0;
        for (size_t i = 0; i < n; i++)
            diff = fmax(diff, fabs(ref[i] - got[i]));
        printf("%-15s %4zu logits (max |logit| %.3g): max |difference| %.3g (tolerance %.3g); "
               "loss %.6f vs %.6f\n",
               c->name, n, scale, diff, test_tolerance(k, scale), loss, loss_back);
    }
    ar_model_free(m2);
    ar_model_free(model);
    free(logits), free(back), free(ref), free(got);
}

/* Bad input: a clear message and a non-zero status, nothing half-merged. */
static void bad_input(const char *out)
{
    char err[2048], dir[1200], adapter[1200];
    snprintf(adapter, sizeof adapter, "%s/gpt2_lm/adapter", out);
    snprintf(dir, sizeof dir, "%s/bad", out);
    enum ar_status st = ar_peft_merge("/nonexistent", adapter, dir, NULL, 0, err, sizeof err);
    CHECK(st != AR_STATUS_OK && strstr(err, "nonexistent"), "bad base: %s", err);
    st = ar_peft_merge(fixture("gpt2_lm"), "/nonexistent", dir, NULL, 0, err, sizeof err);
    CHECK(st == AR_STATUS_NOT_FOUND && strstr(err, "nonexistent"), "bad adapter: %s", err);
    /* a GPT-2 adapter on another GPT-2 (hidden 48, not 32): the module and both shapes named */
    st = ar_peft_merge(fixture("gpt2_tiny"), adapter, dir, NULL, 0, err, sizeof err);
    CHECK(st == AR_STATUS_SHAPE_MISMATCH && strstr(err, "c_attn") && strstr(err, "(48, 144)"),
          "adapter of another model: %s", err);
    /* a Llama adapter on GPT-2: no weight for its modules */
    snprintf(adapter, sizeof adapter, "%s/llama_lm/adapter", out);
    st = ar_peft_merge(fixture("gpt2_lm"), adapter, dir, NULL, 0, err, sizeof err);
    CHECK(st == AR_STATUS_NOT_FOUND && strstr(err, "model.layers.0."),
          "adapter of another arch: %s", err);
    struct stat sb;
    CHECK(stat(dir, &sb) != 0, "a failed merge left %s", dir);
}

int main(int argc, char **argv)
{
    char out[1024];
    if (argc > 1) {
        snprintf(out, sizeof out, "%s", argv[1]);
        mkdir(out, 0777);
    } else {
        const char *dir = test_tmpdir("peft-merge");
        if (!dir)
            return 1;
        snprintf(out, sizeof out, "%s", dir);
    }
    struct ar_ctx *ctx = test_open_ctx();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(ctx, &cases[i], out);
    bad_input(out);
    ar_ctx_free(ctx);
    return test_finish("peft_merge");
}

/* The Llama causal-LM engine against transformers' LlamaForCausalLM (llm.c's debug-state test):
 * tests/fixtures/gen_decoders.py saved a random tiny Llama (untied lm_head) with save_pretrained,
 * and wrote the LoRA/gate values of all seven projections of both blocks, the float64 logits
 * (B, T, V), the loss, every LoRA gradient and the losses of 10 torch.optim.AdamW steps; a second
 * tiny Llama uses grouped-query attention (2 key/value heads for 4 query heads: transformers 4.30
 * predates it, so the script computes it as 4.31's repeat_kv does). This test loads the
 * checkpoints with ar_model_load, writes the same LoRA values into the arena and matches it all;
 * then gradient accumulation, dynamic padding, LoRA dropout against finite differences, a micro
 * Llama with a tied head, and bad checkpoints, options and batches.
 *
 * Tolerances extend test.h's policy as tests/test_model_bert.c does: k is the sum of the
 * contraction lengths along the longest chain of products, per block C (q/k/v) + D (scores) +
 * T (P·v) + C (o_proj) + C (gate/up) + I (down_proj), then C (the LM head), times 2 for the 2L + 1
 * RMSNorms' reductions on the path; backward runs the chain again, so K_BWD = 2·K_FWD. The AdamW losses get the forward tolerance per step, times 1 + step (see
 * model_check.h's check_adamw for why Adam's trajectory error grows with the steps). */
#include "model_check.h"

/* Tiny Llama: C 48, D 12, T 13, I 88, L 2: per block 48+12+13+48+48+88 = 257. */
#define K_FWD (2.0 * (2 * 257 + 48))
#define K_BWD (2.0 * K_FWD)
#define TINY "llama_tiny"
#define ALL "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"

static struct ar_model_options lm_options(const char *targets, int rank, float alpha)
{
    struct ar_model_options o = ar_model_default_options();
    o.task = AR_TASK_CAUSAL_LM;
    o.target_modules = targets;
    o.rank = rank;
    o.lora_alpha = alpha;
    o.hidden_dropout = 0.1f; /* LlamaModel has none: ignored (model_llama.c) */
    o.max_batch = 4;         /* larger than the fixture's batch: strides must use batch->time */
    o.max_time = 14;
    o.seed = 11;
    return o;
}

/* dir: the checkpoint; kv_out: k_proj's output features (KV·D). */
static void parity(struct ar_ctx *ctx, const char *dir, const char *file, int kv_out)
{
    printf("parity %s\n", dir);
    struct fixture f = {0};
    CHECK(load_fx(file, &f) == 0, "cannot read %s", file);
    struct ar_model_options o = lm_options(ALL, 4, 8.0f);
    struct ar_model *m = NULL;
    CHECK_OK(ctx, ar_model_load(ctx, data_path(dir), &o, &m));
    if (!m || !f.count) {
        ar_model_free(m);
        fixture_free(&f);
        return;
    }
    CHECK(ar_model_module_count(m) == 14, "%d modules, want 2 blocks × 7",
          ar_model_module_count(m));
    const struct ar_model_module *k = ar_model_module(m, 1);
    CHECK(!strcmp(ar_model_module(m, 0)->name, "model.layers.0.self_attn.q_proj") &&
              !strcmp(k->name, "model.layers.0.self_attn.k_proj") && k->out == kv_out &&
              k->in == 48,
          "modules 0, 1: %s, %s (%d → %d)", ar_model_module(m, 0)->name, k->name, k->in, k->out);
    CHECK(!strcmp(ar_model_module(m, 13)->name, "model.layers.1.mlp.down_proj"), "module 13 %s",
          ar_model_module(m, 13)->name);
    check_lm_parity(ctx, m, &f, K_FWD, K_BWD);
    ar_model_free(m);
    fixture_free(&f);
}

/* Training mode (LoRA dropout on): backward must regenerate the forward's masks, so
 * gate gradients match central finite differences of the float32 loss at the same (seed, step)
 * (model_check.h's check_dropout_gradients, h = 1e-2: truncation and rounding both about 1e-5
 * here; a wrong mask changes a gradient by roughly the dropout rate, far outside the 5% + 1e-4
 * allowed). */
static void dropout_gradients(struct ar_ctx *ctx)
{
    struct ar_model_options o = lm_options(ALL, 4, 8.0f);
    o.hidden_dropout = 0.3f; /* ignored by Llama: only the LoRA dropout is on */
    o.lora_dropout = 0.2f;
    check_lm_dropout(ctx, TINY, "llama_tiny_lora.bin", o, K_BWD);
}

/* A micro Llama with a tied head (no lm_head tensor): B = 0 at init, so the adapted model is the
 * base model and its logits and loss are transformers'. */
static void tied_head(struct ar_ctx *ctx)
{
    struct ar_model_options o = lm_options("q_proj", 2, 4.0f);
    o.max_batch = 2;
    o.max_time = 6;
    /* micro: C 8, D 4, T 6, I 12, one block: 8+4+6+8+8+12 + 8, ×2 (RMSNorms) */
    check_lm_micro(ctx, TINY "/micro_hub", TINY "/micro.bin", o, 2.0 * (46 + 8),
                   "tied head: micro Llama");
}

static void bad_input(struct ar_ctx *ctx)
{
    struct ar_model_options o = lm_options("q_proj", 2, 4.0f);
    o.max_batch = 2;
    o.max_time = 6;
    /* k_proj is stored (out, in) = (8, 8) in micro: the message gives both shapes. */
    struct ar_model *m = check_lm_refusals(ctx, TINY, o, "model.layers.0.self_attn.k_proj.weight",
                                           "[8, 8]", "q_prj", "c_attn");
    ar_model_free(m);
}

int main(void)
{
    struct ar_ctx *ctx = test_open_ctx();
    parity(ctx, TINY, "llama_tiny_lora.bin", 48);
    parity(ctx, "llama_gqa", "llama_gqa_lora.bin", 24);
    dropout_gradients(ctx);
    tied_head(ctx);
    bad_input(ctx);
    free_held();
    ar_ctx_free(ctx);
    return test_finish("model_llama");
}

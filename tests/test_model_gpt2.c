/* The GPT-2 causal-LM engine against transformers' GPT2LMHeadModel (llm.c's debug-state test):
 * tests/fixtures/gen_decoders.py saved a random tiny GPT-2 with save_pretrained, and wrote the
 * LoRA/gate values of all four modules of both blocks, the float64 logits (B, T, V), the loss,
 * every LoRA gradient and the losses of 10 torch.optim.AdamW steps. This test loads the checkpoint
 * with ar_model_load (Conv1D weights transposed), writes the same LoRA values into the arena and
 * matches it all; then gradient accumulation, dynamic padding, dropout against finite
 * differences, the hub's unprefixed names, and bad checkpoints, options and batches.
 *
 * Tolerances extend test.h's policy as tests/test_model_bert.c does: k is the sum of the
 * contraction lengths along the longest chain of products, per block C (c_attn) + D (scores) +
 * T (P·v) + C (attn.c_proj) + C (c_fc) + I (mlp.c_proj), then C (the tied LM head), times 2 for
 * the 2L + 1 LayerNorms' variance reductions on the path; backward runs the chain again, so
 * K_BWD = 2·K_FWD. The AdamW losses get the forward tolerance per step, times 1 + step (see
 * model_check.h's check_adamw for why Adam's trajectory error grows with the steps). */
#include "model_check.h"

/* Tiny GPT-2: C 48, D 16, T 11, I 100, L 2: per block 48+16+11+48+48+100 = 271. */
#define K_FWD (2.0 * (2 * 271 + 48))
#define K_BWD (2.0 * K_FWD)
#define TINY "gpt2_tiny"

static struct ar_model_options lm_options(const char *targets, int rank, float alpha)
{
    struct ar_model_options o = ar_model_default_options();
    o.task = AR_TASK_CAUSAL_LM;
    o.target_modules = targets;
    o.rank = rank;
    o.lora_alpha = alpha;
    o.hidden_dropout = 0.1f; /* off in the parity runs: they are not training forwards */
    o.max_batch = 4;         /* larger than the fixture's batch: strides must use batch->time */
    o.max_time = 12;
    o.seed = 11;
    return o;
}

static void parity(struct ar_ctx *ctx)
{
    struct fixture f = {0};
    CHECK(load_fx("gpt2_tiny_lora.bin", &f) == 0, "cannot read gpt2_tiny_lora.bin");
    struct ar_model_options o = lm_options("c_attn,c_proj,c_fc", 4, 8.0f);
    struct ar_model *m = NULL;
    CHECK_OK(ctx, ar_model_load(ctx, data_path(TINY), &o, &m));
    if (!m || !f.count) {
        ar_model_free(m);
        fixture_free(&f);
        return;
    }
    CHECK(ar_model_module_count(m) == 8, "%d modules, want 2 blocks × 4", ar_model_module_count(m));
    const struct ar_model_module *first = ar_model_module(m, 0);
    CHECK(!strcmp(first->name, "transformer.h.0.attn.c_attn") && first->out == 144 &&
              first->in == 48,
          "first module %s (%d → %d): c_attn is one (3C, C) module", first->name, first->in,
          first->out);
    CHECK(!strcmp(ar_model_module(m, 3)->name, "transformer.h.0.mlp.c_proj"), "module 3 %s",
          ar_model_module(m, 3)->name);
    check_lm_parity(ctx, m, &f, K_FWD, K_BWD);
    ar_model_free(m);
    fixture_free(&f);
}

/* Training mode (hidden and LoRA dropout on): backward must regenerate the forward's masks, so
 * gate gradients match central finite differences of the float32 loss at the same (seed, step)
 * (model_check.h's check_dropout_gradients, h = 1e-2: truncation and rounding both about 1e-5
 * here; a wrong mask changes a gradient by roughly the dropout rate, far outside the 5% + 1e-4
 * allowed). */
static void dropout_gradients(struct ar_ctx *ctx)
{
    struct ar_model_options o = lm_options("c_attn,c_proj,c_fc", 4, 8.0f);
    o.hidden_dropout = 0.3f;
    o.lora_dropout = 0.2f;
    check_lm_dropout(ctx, TINY, "gpt2_tiny_lora.bin", o, K_BWD);
}

/* The hub's spelling (no "transformer." prefix, no lm_head): B = 0 at init, so the adapted model
 * is the base model and its logits and loss are transformers'. */
static void hub_names(struct ar_ctx *ctx)
{
    struct ar_model_options o = lm_options("c_attn", 2, 4.0f);
    o.max_batch = 2;
    o.max_time = 6;
    /* micro: C 8, D 4, T 6, I 12, one block: 8+4+6+8+8+12 + 8, ×2 (LayerNorms) */
    check_lm_micro(ctx, TINY "/micro_hub", TINY "/micro.bin", o, 2.0 * (46 + 8),
                   "hub names: micro GPT-2");
}

static void bad_input(struct ar_ctx *ctx)
{
    struct ar_model_options o = lm_options("c_attn", 2, 4.0f);
    o.max_batch = 2;
    o.max_time = 6;
    /* c_fc is stored (in, out) = (8, 12): the message gives the file's layout, both shapes. */
    struct ar_model *m = check_lm_refusals(ctx, TINY, o, "transformer.h.0.mlp.c_fc.weight",
                                           "[8, 12]", "c_atn", "query");
    if (!m)
        return;
    float pooled[16];
    CHECK(ar_model_pooled_output(m, pooled) == AR_STATUS_INVALID_ARGUMENT &&
              strstr(ar_ctx_errmsg(ctx), "no pooled output"),
          "a decoder has no pooled output: %s", ar_ctx_errmsg(ctx));
    ar_model_free(m);
}

int main(void)
{
    struct ar_ctx *ctx = test_open_ctx();
    parity(ctx);
    dropout_gradients(ctx);
    hub_names(ctx);
    bad_input(ctx);
    free_held();
    ar_ctx_free(ctx);
    return test_finish("model_gpt2");
}

/* A pretrained transformer with gated LoRA adapters, on one device.
 *
 * The frozen base lives once on the device and never gets a gradient; every trainable tensor
 * (LoRA factors, gates, the task head) is a slice of one flat arena (arena.h), so the optimizer,
 * clipping, checkpoints and a data-parallel allreduce each see one range.
 *
 * Every linear map of the base is an ar_lora_layer; an adapted *module* is one member of such a
 * layer, named as PEFT names it inside the transformers class being wrapped, e.g.
 * "bert.encoder.layer.3.attention.self.query". Modules are listed in model order (layer by layer,
 * in forward order within a layer), which is the row order of every heatmap and of the metrics.
 *
 * BERT/RoBERTa (AR_ARCH_BERT, core/model_bert.c): per layer the query, key and value projections
 * are one lora group (G = 3, W stacked (3C, C)); attention.output.dense, intermediate.dense and
 * output.dense are groups of one. Targets follow PEFT's matching: a module is adapted when its
 * path equals a target or ends with "." + target, so "dense" also adapts BERT's frozen
 * "bert.pooler.dense" (listed last, with layer = L), as PEFT does; "all-linear" adapts every
 * linear of the base, never the classification head. A member of the q/k/v group that is not a
 * target gets A = B = g = m = 0 in its group's slices: its output and gradients are exactly 0.
 * Arena slices are per group: "<group>.lora_A" (G·R, in), "<group>.lora_B" (G, out, R) and
 * "<group>.gate" (G·R), the group being the module path, or "….attention.self.qkv" for q/k/v.
 * The head is trained whole, as PEFT's modules_to_save: BERT's classifier (V, C) on the pooled
 * [CLS] (arena "classifier.weight", "classifier.bias"); RoBERTa's RobertaClassificationHead
 * ("classifier.dense.*", "classifier.out_proj.*"). A head in the checkpoint is loaded, else it is
 * initialised like transformers: weights N(0, 0.02²) drawn from the seed, biases 0.
 * AR_TASK_TOKEN_CLS (BERT and RoBERTa alike) has no pooler, as BertModel(add_pooling_layer=False):
 * its head is "classifier.weight" (V, C) and "classifier.bias" on every token, and "dense" does
 * not adapt a pooler.
 *
 * GPT-2 (AR_ARCH_GPT2, core/model_gpt2.c), task AR_TASK_CAUSAL_LM: pre-LN blocks; c_attn is ONE
 * module (G = 1, out = 3C) as PEFT adapts it, then attn.c_proj, mlp.c_fc, mlp.c_proj, named
 * "transformer.h.N.attn.c_attn" … as in GPT2LMHeadModel. Conv1D weights are stored (in, out) in
 * the checkpoint and transposed on load; the LM head is tied to wte and frozen, so only the LoRA
 * factors and gates train (rank 0 is refused: nothing would).
 *
 * Llama (AR_ARCH_LLAMA, core/model_llama.c), task AR_TASK_CAUSAL_LM: RMSNorm, RoPE in transformers'
 * rotate-half layout, SwiGLU MLP, grouped-query attention (num_key_value_heads < heads: key/value
 * heads repeated as transformers' repeat_kv), no biases, lm_head untied or tied to embed_tokens.
 * Modules "model.layers.N.self_attn.q_proj", k_proj, v_proj, o_proj, "….mlp.gate_proj", up_proj,
 * down_proj, as in LlamaForCausalLM; k_proj/v_proj and gate_proj/up_proj are lora groups of two
 * (arena slices "….self_attn.kv.*" and "….mlp.gate_up.*"). LlamaModel has no hidden dropout, so
 * hidden_dropout is ignored there. Decoders have no pooled output.
 *
 * GPT-2 and Llama with AR_TASK_SEQ_CLS (core/model_head_last_token.c), as transformers'
 * GPT2ForSequenceClassification / LlamaForSequenceClassification: logits (B, V) = the final-norm
 * hidden state of each row's LAST token whose attention mask is 1 (right padding; transformers
 * counts the ids ≠ pad_token_id, the same position when the padding is on the right) · scoreᵀ,
 * score (V, C) without bias: arena slice "score.weight", trained whole (PEFT modules_to_save
 * ["score"]), loaded from the checkpoint when it has one, else N(0, initializer_range²) from the
 * seed. Module names stay "transformer.h.N…" / "model.layers.N…". Rank 0 trains the head alone.
 *
 * Dimension legend: B batch, T time, C hidden, L layers, R allocated LoRA rank, V classes.
 */
#ifndef ADARANK_MODEL_H
#define ADARANK_MODEL_H

#include "arena.h"
#include "lora.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ar_arch {
    AR_ARCH_BERT,    /* BERT and RoBERTa encoders (RoBERTa: positions offset by pad_id + 1) */
    AR_ARCH_GPT2,
    AR_ARCH_LLAMA,
};

enum ar_hidden_act { AR_HIDDEN_ACT_GELU, AR_HIDDEN_ACT_GELU_TANH, AR_HIDDEN_ACT_SILU };

/* What config.json says, validated (model_config.c). */
struct ar_model_config {
    enum ar_arch arch;
    char model_type[32]; /* "bert", "roberta", "gpt2", "llama" */
    int vocab_size;
    int hidden_size;
    int num_layers;
    int num_heads;
    int num_kv_heads; /* = num_heads except for grouped-query Llama */
    int intermediate_size;
    int max_positions;
    int type_vocab_size; /* 0 when the model has no token types */
    int pad_token_id;
    int eos_token_id;        /* -1 when absent (a list: its first id) */
    float initializer_range; /* std of a new head's N(0, σ²) init; 0.02 when absent */
    float norm_eps;
    float rope_theta;
    bool tie_word_embeddings;
    enum ar_hidden_act hidden_act;
};

/* Reads and validates a config.json; err gets "PATH: key: what is wrong". */
enum ar_status ar_model_config_load(const char *path, struct ar_model_config *out, char *err,
                                    size_t err_size);

enum ar_task {
    AR_TASK_SEQ_CLS, /* sequence classification (PEFT SEQ_CLS): pooled [CLS] → classifier;
                      * GPT-2 / Llama: the last non-padding token → score */
    AR_TASK_CAUSAL_LM, /* next-token prediction through the frozen LM head (PEFT CAUSAL_LM);
                        * decoders only (GPT-2, Llama): logits (B·T, vocabulary) */
    AR_TASK_TOKEN_CLS, /* token classification (PEFT TOKEN_CLS), BERT/RoBERTa only, as
                        * BertForTokenClassification: dropout, then classifier (V, C) + bias on
                        * every token's final hidden state (core/model_head_token.c); no pooler;
                        * logits (B·T, V); labels in ar_batch.token_labels */
};

struct ar_model_options {
    enum ar_task task;
    int num_labels;
    /* LoRA targets as PEFT names them: a comma-separated list of module-name suffixes
     * ("query,value", "c_attn", "q_proj,v_proj") or "all-linear". NULL, "" or rank 0: no
     * adapters, only the head trains. A target that matches nothing is an error (as in PEFT). */
    const char *target_modules;
    int rank;          /* allocated rank R of every adapted module (r_max for adaptive methods) */
    float lora_alpha;
    float lora_dropout;
    bool use_rslora;   /* scale = alpha/sqrt(r) instead of alpha/r */
    float hidden_dropout; /* dropout on hidden states during training (config's is ignored) */
    int max_batch, max_time; /* workspace sizes; max_time ≤ the model's positions */
    uint64_t seed;     /* LoRA init (PEFT: A Kaiming-uniform(a=√5), B = 0), head init, dropout */
};

struct ar_model_options ar_model_default_options(void);

/* One adapted linear map. Its tensors are at these offsets (in floats) of every arena region
 * (param, grad, m, v): members of one ar_lora_layer group are stacked in one arena slice, as
 * lora.h lays them out, so a module is an offset, not a slice of its own. */
struct ar_model_module {
    const char *name; /* PEFT module path */
    int layer;        /* transformer layer index */
    int in, out, rank;
    float scale;
    size_t a_off;    /* (R, in)  lora_A */
    size_t b_off;    /* (out, R) lora_B */
    size_t gate_off; /* (R) g */
    float *mask; /* (R) host copy of the active-rank mask m; ar_model_sync_masks uploads it */
};

struct ar_model;

/* Loads config.json, model.safetensors (or the sharded index) and sets up adapters and head.
 * A tensor missing or of the wrong shape is AR_STATUS_BAD_FORMAT naming it and both shapes. */
enum ar_status ar_model_load(struct ar_ctx *ctx, const char *model_dir,
                             const struct ar_model_options *opts, struct ar_model **out);
void ar_model_free(struct ar_model *model); /* NULL is fine */

const struct ar_model_config *ar_model_config(const struct ar_model *model);
enum ar_task ar_model_task(const struct ar_model *model); /* the task it was loaded for */
struct ar_arena *ar_model_arena(struct ar_model *model);
int ar_model_module_count(const struct ar_model *model);
struct ar_model_module *ar_model_module(struct ar_model *model, int i);
enum ar_status ar_model_sync_masks(struct ar_model *model);

/* One padded batch on the host: B rows of T tokens. */
struct ar_batch {
    int batch, time;
    const int32_t *ids;       /* (B, T) */
    const int32_t *type_ids;  /* (B, T) or NULL */
    const int32_t *attn_mask; /* (B, T) 1 = token, 0 = padding */
    const int32_t *labels;    /* (B), a label < 0 is ignored; NULL: forward without a loss */
    const int32_t *token_labels; /* (B, T) next-token targets, −100 ignored; CAUSAL_LM (NULL:
                                  * forward without a loss). token_labels[b][t] is the target of
                                  * position t, i.e. ids[b][t + 1]: already shifted, unlike
                                  * transformers' labels argument. TOKEN_CLS: the class of
                                  * position t itself (< 0, e.g. −100, is not counted) */
};

/* Forward to the loss; *loss receives the mean cross-entropy over the batch's counted rows (NaN
 * without labels; loss may be NULL). `training` turns on dropout (hidden_dropout on the embedding
 * output, both residual branches and the head's input; lora_dropout inside the adapters), drawn
 * from (seed, step). batch ≤ max_batch and time ≤ max_time (dynamic padding); ids, types and
 * positions outside their tables are AR_STATUS_INVALID_ARGUMENT naming the row and column. */
enum ar_status ar_model_forward(struct ar_model *model, const struct ar_batch *batch,
                                bool training, uint64_t step, float *loss);
/* Backward of the last forward (which needs labels); accumulates (+=) into the arena's gradient
 * region the gradient of loss_scale × (mean loss) (1 for a plain mean; 1/k for k accumulated
 * batches). */
enum ar_status ar_model_backward(struct ar_model *model, float loss_scale);
/* The last forward's logits on the host: (B, V) for SEQ_CLS, (B, T, V) for TOKEN_CLS,
 * (B, T, vocabulary) for CAUSAL_LM. */
enum ar_status ar_model_logits(struct ar_model *model, float *out);
/* The last forward's final hidden states (B, T, C) (transformers' last_hidden_state: after the
 * decoders' final norm) and the pooled [CLS] (B, C) (BERT's pooler_output; RoBERTa: tanh of the
 * head's dense; decoders and TOKEN_CLS: AR_STATUS_INVALID_ARGUMENT), on the host. */
enum ar_status ar_model_hidden_state(struct ar_model *model, float *out);
enum ar_status ar_model_pooled_output(struct ar_model *model, float *out);

#ifdef __cplusplus
}
#endif

#endif

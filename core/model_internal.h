/* The transformer engine's object, shared by core/model.c (set-up, accessors), model_modules.c
 * (names, LoRA targets, the arena layout, init), model_load.c (checkpoint tensors) and
 * model_bert.c (forward and backward). Library-internal.
 *
 * Memory, llm.c style: the frozen base is one device buffer carved into named views, the
 * activations another, and every trainable value a slice of the arena. Dimension legend: B batch,
 * T time, N = B·T rows, C hidden, I intermediate, L layers, R rank, V labels.
 */
#ifndef ADARANK_CORE_MODEL_INTERNAL_H
#define ADARANK_CORE_MODEL_INTERNAL_H

#include "adarank/model.h"
#include "adarank/ops.h"
#include "internal.h"

#define AR__MODEL_NAME_MAX 96

/* One linear-map group of the base (G members reading the same input) as one ar_lora_layer.
 * Rank 0 when none of its members is a LoRA target: then it is a plain frozen linear. */
struct ar__model_linear {
    char name[AR__MODEL_NAME_MAX]; /* arena slice prefix, e.g. "bert.encoder.layer.0.attention.self.qkv" */
    int groups, in, out, rank;
    int id; /* position among all linears: decorrelates the LoRA dropout streams */
    float scale;
    struct ar_lora_layer *layer;
    struct ar_lora_weights w; /* w, bias: base views; a, b, gate: arena params; mask: mask_dev */
    size_t a_off, b_off, gate_off; /* arena offsets, rank > 0 only */
    size_t mask_off;               /* into mask_host / mask_dev */
};

/* One transformer block. GPT-2 reuses it (core/model_gpt2.c): qkv is c_attn (G = 1, out 3C),
 * attn_out attn.c_proj, inter mlp.c_fc, out mlp.c_proj, ln1/ln2 ln_1/ln_2; being pre-LN, r1 is
 * the block's input (the residual stream, which LN1 normalises) and r2 the residual after the
 * attention branch (LN2's input). Llama (core/model_llama.c) too: qkv is q_proj (G = 1), kv
 * k_proj/v_proj, attn_out o_proj, inter gate_proj/up_proj (G = 2, ipre (N, 2I)), out down_proj,
 * ln1/ln2 the RMSNorm weights (rstd1/rstd2 their statistics), r1/r2 as GPT-2's. */
struct ar__bert_layer {
    struct ar__model_linear qkv;      /* (3C, C): query, key, value stacked, G = 3 */
    struct ar__model_linear kv;       /* Llama only: k_proj, v_proj (G = 2, (KV·D, C) each) */
    struct ar__model_linear attn_out; /* (C, C)  attention.output.dense */
    struct ar__model_linear inter;    /* (I, C)  intermediate.dense */
    struct ar__model_linear out;      /* (C, I)  output.dense */
    struct ar_mem ln1_g, ln1_b, ln2_g, ln2_b; /* (C) frozen */
    struct ar_attention *att;                 /* keeps q, k, v and the probabilities */
    /* Activations backward needs (the LoRA layers keep their own inputs). */
    struct ar_mem r1, mean1, rstd1; /* (N, C), (N), (N): attention residual sum, its LN stats */
    struct ar_mem ipre;             /* (N, I) intermediate before GELU */
    struct ar_mem r2, mean2, rstd2; /* (N, C), (N), (N): output residual sum, its LN stats */
};

/* Trainable head, all in the arena. BERT: classifier (V, C) on the frozen pooler's output.
 * RoBERTa (RobertaClassificationHead): dense (C, C) + tanh, then out_proj (V, C), all trained. */
struct ar__model_head {
    size_t w_off, b_off;             /* classifier.weight (V, C) / out_proj.weight, and bias (V) */
    size_t dense_w_off, dense_b_off; /* RoBERTa: classifier.dense.weight (C, C), bias (C) */
};

struct ar_model {
    struct ar_ctx *ctx;
    struct ar_model_config cfg;
    struct ar_model_options opts;
    char target_modules[256]; /* opts.target_modules points here */
    const char *prefix;       /* "bert" or "roberta": PEFT module paths start with it */
    bool roberta;
    int num_labels;           /* SEQ_CLS: classes; CAUSAL_LM: the vocabulary (logit columns) */
    bool causal_lm;           /* opts.task == AR_TASK_CAUSAL_LM: one loss row per token */
    bool token_cls;           /* opts.task == AR_TASK_TOKEN_CLS: one loss row per token, no
                               * pooler, classifier on every token (model_head_token.c) */

    /* ---- frozen base: one buffer ---- */
    struct ar_mem base;
    struct ar_mem wte, wpe, wtt;      /* (Vocab, C), (P, C), (Types, C) */
    struct ar_mem ln_emb_g, ln_emb_b; /* (C) */
    struct ar__bert_layer *layers;    /* (L) */
    struct ar__model_linear pooler;   /* (C, C) BERT's pooler.dense (a LoRA target with "dense") */
    struct ar_mem ln_f_g, ln_f_b;     /* (C) GPT-2's final ln_f; Llama's model.norm (g only) */
    struct ar_mem lm_head;            /* (Vocab, C) Llama's untied lm_head, else = wte */

    /* ---- trainable state ---- */
    struct ar_arena_layout *layout;
    struct ar_arena arena;
    struct ar__model_head head;
    float *mask_host; /* (Σ G·R) active-rank masks of every group */
    struct ar_mem mask_dev;
    size_t mask_count;
    struct ar_model_module *modules; /* adapted modules, model order */
    char (*module_names)[AR__MODEL_NAME_MAX];
    int module_count;

    /* ---- activations, for max_batch × max_time rows: one buffer ---- */
    struct ar_mem acts;
    struct ar_mem ids, pos, types, labels, key_mask; /* int (N), int (N), int (N), int (B), (B, T) */
    struct ar_mem x, a, h, qkv, ctx_out, iact;       /* scratch (N, C)…(N, 3C), (N, I) */
    struct ar_mem emb_mean, emb_rstd;                /* (N) */
    struct ar_mem cls, cls_d, z, pooled, pd;         /* (B, C) head path */
    struct ar_mem logits, probs, losses;             /* (B, V), (B, V), (B); CAUSAL_LM (N, V)… */
    struct ar_mem resid;                             /* (N, C) decoders: last block's output */
    struct ar_mem lq, lkv, ldkv;                     /* Llama: (N, C), (N, 2KV·D), (N, 2KV·D) */
    struct ar_mem rope_cos, rope_sin;                /* Llama: (max_time, D/2) */
    /* backward scratch */
    struct ar_mem dx, da, dh, dctx, dqkv, di, di2;   /* (N, C)…(N, 3C), (N, I) */
    struct ar_mem dcls, dz, dpooled, dlogits;        /* (B, C)…, (B, V) */

    /* ---- the last forward ---- */
    bool have_forward, have_loss, training;
    float loss;
    int batch, time, counted; /* counted: rows whose label is not ignored */
    uint64_t step;
    float *host_losses; /* (max_batch) */
    int32_t *host_ints; /* (3·N + rows) staging for ids, positions, types, labels */
    float *host_mask;   /* (N) */
};

/* ---- model_modules.c ---- */
/* Builds every linear group (names, shapes, ranks from the targets), the arena layout and the
 * module table; fails naming a target that matches nothing. */
enum ar_status ar__model_plan(struct ar_model *m);
/* PEFT init of the LoRA factors, gates and masks, and the head when the checkpoint has none. */
enum ar_status ar__model_init_trainable(struct ar_model *m, bool head_loaded);
/* Iterates the linears in model order (layers, then the pooler); NULL past the end. */
struct ar__model_linear *ar__model_linear_at(struct ar_model *m, int i);

/* ---- model_load.c ---- */
/* Reads every base tensor (and the head, when present) from dir into m->base and the arena.
 * *head_loaded tells whether the checkpoint carried a classifier. */
enum ar_status ar__model_load_weights(struct ar_model *m, const char *dir, bool *head_loaded);

/* Rows of the loss: B for SEQ_CLS, N = B·T for CAUSAL_LM and TOKEN_CLS (max_batch × max_time
 * when sizing). */
static inline size_t ar__model_loss_rows(const struct ar_model *m, int batch, int time)
{
    return m->causal_lm || m->token_cls ? (size_t)batch * (size_t)time : (size_t)batch;
}

/* ---- model.c: what every architecture's forward and backward share ---- */
uint64_t ar__model_mix(uint64_t a, uint64_t b); /* seed hashing of the dropout streams */
/* A linear's forward (LoRA dropout seeded per linear and step); its backward: dX (overwritten or
 * accumulated, absent: none) and the LoRA gradients into the arena. */
enum ar_status ar__model_lora_fwd(struct ar_model *m, struct ar__model_linear *lin, int n,
                                  struct ar_mem x, struct ar_mem y);
enum ar_status ar__model_lora_bwd(struct ar_model *m, struct ar__model_linear *lin,
                                  struct ar_mem dy, struct ar_mem dx, bool accumulate);

/* ---- model_gpt2.c: GPT-2, and the helpers every decoder shares ---- */
/* Checks the batch on the host (ids, targets, positions t or all 0) and uploads it; counts the
 * targets. */
enum ar_status ar__decoder_upload(struct ar_model *m, const struct ar_batch *b, bool zero_pos);
/* Cross-entropy of m->logits (N, V) against the uploaded targets: m->loss, m->have_loss. */
enum ar_status ar__decoder_loss(struct ar_model *m);
enum ar_status ar__gpt2_forward(struct ar_model *m, const struct ar_batch *b, bool training,
                                uint64_t step);
enum ar_status ar__gpt2_backward(struct ar_model *m, float loss_scale);

/* ---- model_head_last_token.c: decoders' sequence classification ---- */
/* The arena slice "score.weight" (V, C) at m->head.w_off. */
enum ar_status ar__last_token_plan(struct ar_model *m);
/* From the final hidden states m->x: logits (B, V) of each row's last token (the last position
 * whose attention mask is 1), and the loss when the batch has labels. */
enum ar_status ar__last_token_forward(struct ar_model *m, const struct ar_batch *b);
/* The head's backward: score's gradient (+=) and ∂L/∂x (B, T, C) into dx. */
enum ar_status ar__last_token_backward(struct ar_model *m, float loss_scale, struct ar_mem dx);

/* ---- model_llama.c ---- */
enum ar_status ar__llama_forward(struct ar_model *m, const struct ar_batch *b, bool training,
                                 uint64_t step);
enum ar_status ar__llama_backward(struct ar_model *m, float loss_scale);

/* ---- model_head_token.c: TOKEN_CLS's head on every token of the BERT/RoBERTa encoder ---- */
/* logits (N, V) = dropout(x) · Wᵀ + b, the dropout kept in m->h for backward. */
enum ar_status ar__token_head_forward(struct ar_model *m, float p, uint64_t seed);
/* Cross-entropy backward from the uploaded per-token labels, the head's gradients, and
 * ∂L/∂(last hidden state) into m->dx (N, C). */
enum ar_status ar__token_head_backward(struct ar_model *m, float loss_scale, float p,
                                       uint64_t seed);

/* ---- model_bert.c ---- */
enum ar_status ar__bert_forward(struct ar_model *m, const struct ar_batch *b, bool training,
                                uint64_t step);
enum ar_status ar__bert_backward(struct ar_model *m, float loss_scale);

#endif

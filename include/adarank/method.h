/* Rank methods: how the gates g and active-rank masks m of the gated LoRA modules are trained,
 * and what rank each module ends with (../shared/METHODS.md; the table of §0.2 maps each method
 * onto the gated kernel Y = X·Wᵀ + b + s·((X̃·Aᵀ) ⊙ (g ⊙ m))·Bᵀ).
 *
 * A method is attached to a trainer as hooks (train.h): it may act before a forward (DyLoRA's
 * rank sampling), after a backward (SoRA's L1 term, AdaLoRA's orthogonality term) and after an
 * optimizer step (SoRA's proximal step, AdaLoRA's budget masking). It reports, at any time, each
 * module's effective and allocated rank and its gate / selection / importance values, in the
 * shape of the metrics stream's "ranks" event, and it exports plain LoRA factors with its own
 * state folded in (FORMATS.md: "portable export of every method = plain LoRA factors").
 */
#ifndef ADARANK_METHOD_H
#define ADARANK_METHOD_H

#include "train.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ar_method_kind {
    AR_METHOD_LORA,
    AR_METHOD_SORA,
    AR_METHOD_AUTOLORA,
    AR_METHOD_DYLORA,
    AR_METHOD_FLEXORA,
    AR_METHOD_ADALORA,
};

/* "lora", "sora", "autolora", "dylora", "flexora", "adalora". */
const char *ar_method_kind_name(enum ar_method_kind kind);
bool ar_method_kind_parse(const char *name, enum ar_method_kind *out);

/* SoRA (Ding et al. 2023; METHODS.md §1). */
struct ar_sora_params {
    float l1_weight;  /* λ of the L1 term λ·Σ|g|/N_g added to the loss (code: sparse_lambda) */
    float xi;         /* ξ, the proximal threshold of the first stage (code: sparse_lambda_2) */
    float xi_max;     /* the sparsifying scheduler raises ξ linearly to this over the stages */
    int stages;       /* ≥ 1; stage k of K covers steps [k·T/K, (k+1)·T/K) with ξ_k */
    bool xi_times_lr; /* paper form T_{η_t·ξ}; false: the released code's absolute ξ per step */
    bool gate_init_normal; /* g ~ N(0, 1) as the code does (true), or g = 1 */
};

/* DyLoRA (Valipour et al. 2023; METHODS.md §3). */
struct ar_dylora_params {
    int min_rank; /* b is drawn uniformly from [min_rank, R] every optimizer step */
    bool frozen;  /* released code: only component b trains; paper's better non-frozen: all ≤ b */
};

/* AdaLoRA (Zhang et al. 2023, as PEFT implements it; METHODS.md §5). */
struct ar_adalora_params {
    int target_rank;     /* average final rank per module; the budget b_T = target_rank · n */
    int tinit, tfinal;   /* steps of full budget at the start, and of fixed masks at the end */
    int delta_t;         /* steps between budget maskings */
    float beta1, beta2;  /* smoothing of the sensitivity and of its uncertainty */
    float orth_reg;      /* γ of the orthogonality regulariser */
};

/* AutoLoRA (Zhang et al. 2024; METHODS.md §2). */
struct ar_autolora_params {
    float selection_lr;  /* Adam lr of the selection logits β */
    float darts_r;       /* R of the finite-difference step ε = R/‖v‖ */
    bool first_order;    /* drop the second-order term of the hypergradient */
    float val_fraction;  /* of the training set used as the search's validation split */
    float inner_lr;      /* ξ of the unrolled inner step θ − ξ∇θ; ≤ 0: the run's scheduled lr */
    bool darts_scale_by_lr; /* DARTS' −ξ·∇²L·v (true) or Betty's −∇²L·v without ξ (§2.2) */
};

/* Flexora (Wei et al. 2024; METHODS.md §4). */
struct ar_flexora_params {
    float hyper_lr;     /* Adam lr of the per-layer logits α */
    int power;          /* k in Δy_l = w_l^k·…: 1 (paper) or 3 (released code) */
    int select_layers;  /* > 0: keep this many top-scored layers; 0: every layer with α_l > 0 */
    bool first_order;   /* the released code's first-order hypergradient */
    float search_fraction; /* of the training steps spent searching before retraining */
    float inner_lr;     /* ξ of the unrolled inner step; ≤ 0: the run's scheduled lr */
    float darts_r;      /* R of the finite-difference step ε = R/‖v‖ (second order only) */
    bool darts_scale_by_lr; /* as ar_autolora_params */
};

/* Plain LoRA with a per-module rank pattern: the retraining stage of AutoLoRA (§2.4) and Flexora
 * (§4.2) on a fresh model, from ar_method_final_ranks of the search. */
struct ar_lora_params {
    const int *ranks;   /* (module count) r_i in [0, R], read by ar_method_new only; NULL: all R.
                         * Components j ≥ r_i are masked off: a module of rank 0 has no adapter. */
    bool scale_by_rank; /* PEFT's rank_pattern: the scale α/r_i (α/√r_i under rsLoRA) of each
                         * module, folded into its frozen gates; false: the model's α/R */
};

struct ar_method_params {
    enum ar_method_kind kind;
    struct ar_sora_params sora;
    struct ar_dylora_params dylora;
    struct ar_adalora_params adalora;
    struct ar_autolora_params autolora;
    struct ar_flexora_params flexora;
    struct ar_lora_params lora;
};

/* Defaults from the papers' and official scripts' values, adapted to short runs where noted. */
struct ar_method_params ar_method_default_params(enum ar_method_kind kind);

struct ar_method;

/* A method for `model` (borrowed). Initialises what the method owns (e.g. SoRA's gates). */
enum ar_status ar_method_new(struct ar_ctx *ctx, struct ar_model *model,
                             const struct ar_method_params *params, uint64_t seed,
                             struct ar_method **out);
void ar_method_free(struct ar_method *method); /* NULL is fine */

/* Adds the method's hooks to a trainer built on the same model. */
enum ar_status ar_method_attach(struct ar_method *method, struct ar_trainer *trainer);

/* The current per-module state, valid until the next call on the method. Arrays have
 * ar_model_module_count entries; values[i] holds values_count[i] floats (the gate for SoRA, the
 * selection weights for AutoLoRA, the importance for AdaLoRA, the mask for DyLoRA); layer_score
 * (n_layers) is Flexora's. Reads the gates from the device (a sync point: call at log steps). */
struct ar_method_report {
    int n_modules;
    int *effective; /* non-zero g_j·m_j */
    int *allocated; /* R */
    float *sparsity;
    const char *values_kind; /* "gate", "selection", "importance" or "mask" */
    float **values;
    int *values_count;
    double threshold; /* SoRA's current ξ, AdaLoRA's budget; NaN when none */
    int n_layers;
    float *layer_score;   /* Flexora only, else NULL */
    bool *layer_selected; /* Flexora only, else NULL */
};
enum ar_status ar_method_report(struct ar_method *method, const struct ar_method_report **out);

/* AutoLoRA and Flexora train their selection variables on a search (validation) split, one batch
 * of batch_size examples per optimizer step, drawn in an order seeded by the method's seed. The
 * set is borrowed and must outlive the training run. Other methods: AR_STATUS_UNSUPPORTED. */
enum ar_status ar_method_set_search_data(struct ar_method *method, const struct ar_encoded *val,
                                         int batch_size, int32_t pad_id);

/* The rank each module ends with (ranks: ar_model_module_count ints), what a retraining stage
 * gives ar_lora_params.ranks: SoRA its non-zero gates, AdaLoRA its budget's pattern, AutoLoRA
 * #{j: softmax(β)_j ≥ 1/R} (§2.3), Flexora R in the selected layers and 0 elsewhere (§4.2),
 * LoRA its pattern (R by default), DyLoRA R. Reads the gates (a sync point). */
enum ar_status ar_method_final_ranks(struct ar_method *method, int *ranks);

/* Ends training: SoRA prunes zero gates, AdaLoRA applies its final mask, Flexora/AutoLoRA fix
 * their selection. After this, ar_method_export_module gives the final factors. */
enum ar_status ar_method_finish(struct ar_method *method);

/* DyLoRA only: runs every module truncated to `rank` components at scale α/rank from now on
 * (evaluation at any rank without retraining, and export at that rank). */
enum ar_status ar_method_set_rank(struct ar_method *method, int rank);

/* Module i as a plain LoRA, what PEFT loads: the kept components of A (rank, in) and B (out, rank)
 * with g ⊙ m folded into B, so that ΔW = scale·B'·A' equals the gated module's s·B·diag(g⊙m)·A.
 * a_out / b_out hold R·in / out·R floats (the allocated rank bounds the kept one). */
enum ar_status ar_method_export_module(struct ar_method *method, int i, float *a_out,
                                       float *b_out, int *rank, float *scale);

#ifdef __cplusplus
}
#endif

#endif

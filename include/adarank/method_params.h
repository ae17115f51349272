/* The parameters of the rank methods (method.h), in a header of their own so that the training
 * job's configuration (train.h, struct ar_train_config) can hold them by value: method.h
 * includes train.h for the trainer hooks. */
#ifndef ADARANK_METHOD_PARAMS_H
#define ADARANK_METHOD_PARAMS_H

#include <stdbool.h>

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

#ifdef __cplusplus
}
#endif

#endif

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

#include "method_params.h"
#include "train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* enum ar_method_kind, ar_method_kind_name/parse and the parameter structs are in
 * method_params.h (train.h's job configuration holds them too). */

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

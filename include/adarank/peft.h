/* Export of a trained adapter as a Hugging Face PEFT LoRA adapter directory, the portable result
 * of every rank method (FORMATS.md, "PEFT adapters"):
 *
 *   DIR/adapter_config.json        peft_type LORA, r, lora_alpha, target_modules, rank_pattern,
 *                                  alpha_pattern, modules_to_save, ... (keys PEFT ≥ 0.7 knows)
 *   DIR/adapter_model.safetensors  base_model.model.<module>.lora_A.weight (r_m, in)
 *                                  base_model.model.<module>.lora_B.weight (out, r_m)
 *                                  base_model.model.<head tensor>, e.g. classifier.weight
 *   DIR/adarank_state.json         our sidecar: method state and every module's rank (PEFT < 0.14
 *                                  rejects unknown config keys, so nothing of ours goes into the
 *                                  config)
 *
 * Every method becomes plain LoRA factors before this call: the caller folds SoRA gates and
 * AutoLoRA selection weights into B, truncates DyLoRA, folds AdaLoRA's singular values, and
 * drops pruned components, so each module arrives with its kept rank r_m and the scale s_m it
 * was trained with (ΔW = s_m · B · A).
 *
 * PEFT computes ΔW = (alpha_m / r_m) · B · A (alpha_m / sqrt(r_m) with use_rslora), where r_m is
 * rank_pattern[module] or r, and alpha_m is alpha_pattern[module] or lora_alpha. The export picks
 * r (the most common kept rank unless given) and lora_alpha, then writes a rank_pattern entry for
 * every module whose rank differs from r and an alpha_pattern entry alpha_m = s_m · r_m wherever
 * lora_alpha / r_m would not reproduce s_m exactly. s_m · r_m is exact in double for a float s_m
 * and r_m < 2^29, and Python divides in double, so PEFT recovers s_m bit for bit (with rsLoRA
 * within one double rounding, which vanishes when PEFT casts the scale to float32).
 *
 * Pattern keys are full module paths: PEFT ≥ 0.14 matches keys as `(.*\.)?key$`, and older
 * versions fall back to an exact lookup of the module path, so both find them.
 *
 * Saved head keys: PEFT saves a modules_to_save module under its plain path (the
 * "modules_to_save.default." part is removed when saving and restored when loading), so the head
 * is stored as base_model.model.classifier.weight / .bias.
 */
#ifndef ADARANK_PEFT_H
#define ADARANK_PEFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ar_peft_module {
    const char *name; /* module path inside the transformers class
                         ("bert.encoder.layer.0.attention.self.query") */
    int rank;         /* kept rank r_m; 0: pruned, the module is left out of the adapter */
    int in, out;      /* features of the adapted linear map */
    double scale;     /* s_m: ΔW = s_m · B · A as trained */
    const float *a;   /* (rank, in) row-major; may be NULL when rank is 0 */
    const float *b;   /* (out, rank) row-major, gates already folded in */
};

/* A whole tensor saved as is (the task head of modules_to_save). */
struct ar_peft_tensor {
    const char *name; /* path inside the transformers class, e.g. "classifier.weight" */
    int ndim;         /* 1 or 2 */
    int64_t shape[2];
    const float *data;
};

struct ar_peft_adapter {
    const char
        *base_model; /* base_model_name_or_path, e.g. "sentence-transformers/all-MiniLM-L6-v2" */
    const char *task_type; /* "SEQ_CLS", "CAUSAL_LM", "TOKEN_CLS", ...; NULL: not written */
    int r;                 /* 0: the most common kept rank */
    double lora_alpha;     /* 0: so that modules of rank r need no alpha_pattern entry */
    bool use_rslora;       /* PEFT scale alpha / sqrt(r) instead of alpha / r */
    bool fan_in_fan_out;   /* GPT-2 Conv1D targets */
    const struct ar_peft_module *modules;
    int n_modules;
    /* Modules saved whole (e.g. {"classifier"}); NULL with task_type SEQ_CLS or TOKEN_CLS means
     * {"classifier"} ({"score"} when the tensors are a decoder's "score.weight"). */
    const char *const *modules_to_save;
    int n_modules_to_save;
    const struct ar_peft_tensor *tensors; /* the modules_to_save tensors */
    int n_tensors;
    /* target_modules as full module paths instead of in-layer suffixes ("attention.self.query").
     * Suffixes are written only when exact among the given modules; a suffix can still match a
     * module of the model that was never adapted (BERT's "output.dense" also ends
     * "attention.output.dense"), so set this when the caller cannot rule that out. */
    bool full_target_names;
    const char *method;     /* sidecar: "sora", "adalora", ... */
    const char *state_json; /* sidecar: any JSON object with the method's state; NULL: {} */
};

/* Writes the adapter into `dir` (created when missing; existing files replaced atomically,
 * adapter_config.json last so its presence means the export is complete). Errors: "what" in err. */
enum ar_status ar_peft_export(const char *dir, const struct ar_peft_adapter *adapter, char *err,
                              size_t err_size);

/* ---- reading an adapter back (core/peft_import.c, core/peft_query.c) --------------------------
 *
 * ar_peft_adapter_read parses DIR/adapter_config.json (peft_type LORA; r, lora_alpha, use_rslora,
 * rank_pattern, alpha_pattern, target_modules, modules_to_save, task_type, base_model_name_or_path,
 * fan_in_fan_out; every key's type checked) and DIR/adapter_model.safetensors (any float dtype,
 * converted to float32) into the same description ar_peft_export takes, so a read adapter can be
 * exported again. Each module's rank r_m is the rows of its lora_A and must be the rank PEFT would
 * build (rank_pattern[module] or r); its scale is PEFT's alpha_m / r_m (alpha_m / sqrt(r_m) with
 * use_rslora), alpha_m = alpha_pattern[module] or lora_alpha. A pattern key matches a module path
 * equal to it or ending in "." + key, the first key in file order winning (PEFT ≥ 0.14). Tensors
 * that are not lora_A/lora_B become `tensors` (the modules_to_save head), named without the
 * "base_model.model." prefix. Other LoRA variants (DoRA's magnitude, embedding adapters) are
 * AR_STATUS_UNSUPPORTED. Errors: AR_STATUS_NOT_FOUND without adapter_config.json, BAD_FORMAT or
 * SHAPE_MISMATCH naming the file, key or tensor; the message goes to err. method and state_json
 * are left NULL. */
enum ar_status ar_peft_adapter_read(const char *dir, struct ar_peft_adapter **out, char *err,
                                    size_t err_size);
/* Frees an adapter from ar_peft_adapter_read (NULL is fine; never one the caller built). */
void ar_peft_adapter_free(struct ar_peft_adapter *adapter);

/* The largest module rank (0 without modules). */
int ar_peft_adapter_max_rank(const struct ar_peft_adapter *adapter);
/* A saved tensor by its path inside the transformers class ("classifier.weight"), or NULL. */
const struct ar_peft_tensor *ar_peft_adapter_tensor(const struct ar_peft_adapter *adapter,
                                                    const char *name);
/* target_modules for ar_model_options that adapt the adapter's modules: their full paths when
 * they fit the model's target list (32 names, 255 characters), else their distinct in-layer
 * suffixes ("attention.self.query"), which can also match modules the adapter does not have;
 * ar_model_load_adapter leaves those at their fresh PEFT init (B = 0: no change to the output).
 * AR_STATUS_INVALID_ARGUMENT when even the suffixes do not fit `size` or there are no modules. */
enum ar_status ar_peft_adapter_targets(const struct ar_peft_adapter *adapter, char *out,
                                       size_t size);

struct ar_model;

enum ar_peft_load_flags {
    /* Put each module's scale ratio s_m / s (s: the model's one scale) into its gates instead of
     * into B. With gates that never train (plain LoRA) the model then trains exactly as PEFT
     * would continue the adapter; by default gates are 1 and B carries the ratio, which is the
     * same function but a different parametrisation for training. */
    AR_PEFT_LOAD_SCALE_IN_GATES = 1 << 0,
};

/* Writes an adapter into a model built with its modules among the targets and an allocated rank
 * R ≥ every module's r_m: lora_A / lora_B fill each module's first r_m components, the others
 * are zero with gate 0 and mask 0 (inactive); active gates are 1 (see the flags); every trainable
 * tensor that is not a LoRA factor or gate (the task head) is loaded from the tensor of the same
 * name. Modules of the model that the adapter lacks keep their initialisation. Everything is
 * checked before anything is written, so on error the model is unchanged; the context's message
 * names the module or tensor and both shapes: a task_type other than the model's task
 * (INVALID_ARGUMENT), an adapter module the model has no adapter on (INVALID_ARGUMENT), a rank
 * above R or another in/out (SHAPE_MISMATCH), a head tensor missing (BAD_FORMAT), of another
 * shape, e.g. another number of classes (SHAPE_MISMATCH), or one the model has not
 * (INVALID_ARGUMENT). */
enum ar_status ar_model_load_adapter(struct ar_model *model, const struct ar_peft_adapter *adapter,
                                     unsigned flags);

#define AR_PEFT_CONFIG_FILE "adapter_config.json"
#define AR_PEFT_WEIGHTS_FILE "adapter_model.safetensors"
#define AR_PEFT_STATE_FILE "adarank_state.json"

#ifdef __cplusplus
}
#endif

#endif

/* A PEFT LoRA adapter folded into its base checkpoint: a plain model folder that loads without
 * any adapter (ar_model_load, or transformers' from_pretrained) and computes what base + adapter
 * computes.
 *
 *   OUT/model.safetensors  every base tensor as float32, each adapted weight replaced by
 *                          W + s_m · B·A (s_m as PEFT computes it: alpha_m / r_m, or
 *                          alpha_m / sqrt(r_m) with use_rslora), plus the adapter's saved modules
 *                          (the task head, modules_to_save)
 *   OUT/config.json        the base's, with the head's label count (id2label / label2id from the
 *                          given names) and the task class in "architectures"
 *   OUT/tokenizer.json, vocab.txt, tokenizer_config.json, special_tokens_map.json: copied when
 *                          the base has them
 *
 * Tensor names follow the adapter's module paths: when the adapter names
 * "bert.encoder.layer.0.attention.self.query" and the base stores "encoder.layer.0...", every
 * base tensor is written with the "bert." prefix, as a BertForSequenceClassification checkpoint
 * is. Runs on the host (no device). fan_in_fan_out adapters (GPT-2 Conv1D) are refused. */
#ifndef ADARANK_PEFT_MERGE_H
#define ADARANK_PEFT_MERGE_H

#include <stddef.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* labels: n_labels class names in id order for config.json (NULL: "LABEL_0", ...). */
enum ar_status ar_peft_merge(const char *base_dir, const char *adapter_dir, const char *out_dir,
                             const char *const *labels, int n_labels, char *err,
                             size_t err_size);

#ifdef __cplusplus
}
#endif

#endif

/* A PEFT LoRA adapter folded into its base checkpoint: a plain model folder that loads without
 * any adapter (ar_model_load, or transformers' from_pretrained) and computes what base + adapter
 * computes.
 *
 *   OUT/model.safetensors  every base tensor as float32, each adapted weight replaced by
 *                          W + s_m · B·A (s_m as PEFT computes it: alpha_m / r_m, or
 *                          alpha_m / sqrt(r_m) with use_rslora); GPT-2's Conv1D weights keep the
 *                          checkpoint's (in, out) layout: W + s_m · (B·A)ᵀ (PEFT's fan_in_fan_out;
 *                          c_attn is one module of out 3C); plus the adapter's saved modules (the
 *                          task head of modules_to_save: classifier.*, or score.weight for GPT-2
 *                          and Llama). Left out: tensors the task class does not have (position_ids
 *                          buffers; under a classifier the pre-training heads cls.* / lm_head.*,
 *                          and the pooler of BertForTokenClassification and of RoBERTa's classes).
 *   OUT/config.json        the base's, with "architectures" the task class (the adapter's
 *                          task_type: Bert/Roberta For{Sequence,Token}Classification,
 *                          GPT2ForSequenceClassification, GPT2LMHeadModel,
 *                          LlamaForSequenceClassification, LlamaForCausalLM; other pairs keep the
 *                          base's), the head's classes as id2label / label2id from the given names,
 *                          and for a decoder classifier without a pad token pad_token_id = eos
 *                          (what `train` pads with; transformers needs it to find the last token)
 *   OUT/tokenizer.json, vocab.txt, tokenizer_config.json, special_tokens_map.json: copied when
 *                          the base has them
 *
 * The adapter is read by ar_peft_adapter_read (peft.h), so every adapter it accepts merges.
 * Tensor names follow the adapter's module paths: when the adapter names
 * "bert.encoder.layer.0.attention.self.query" and the base stores "encoder.layer.0...", every
 * base tensor is written with the "bert." prefix, as a BertForSequenceClassification checkpoint
 * is (heads stay at the top level). Runs on the host (no device). */
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

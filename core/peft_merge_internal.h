/* What core/peft_merge.c (the weights) and core/peft_merge_config.c (config.json, the tokenizer
 * files) share. */
#ifndef ADARANK_PEFT_MERGE_INTERNAL_H
#define ADARANK_PEFT_MERGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "adarank/status.h"
#include "json.h"

/* The merged folder's config.json: the base's members in their order, with these replaced. */
struct ar__merge_config {
    const struct ar__json_node *base; /* the base's config.json (an object) */
    /* transformers class for "architectures" ("GPT2ForSequenceClassification"); NULL: the
     * base's "architectures" is kept */
    const char *architecture;
    int num_labels;            /* > 0: id2label / label2id of this many classes */
    const char *const *labels; /* n_labels class names in id order; NULL: "LABEL_0", ... */
    int n_labels;
    int64_t pad_token_id; /* ≥ 0: written as "pad_token_id" (replacing a null one) */
};

/* Writes `path`; AR_STATUS_IO or OUT_OF_MEMORY with "what" in err. */
enum ar_status ar__peft_merge_write_config(const char *path, const struct ar__merge_config *c,
                                           char *err, size_t err_size);

/* Copies the base's tokenizer files (tokenizer.json, vocab.txt, tokenizer_config.json,
 * special_tokens_map.json) that exist into out_dir; AR_STATUS_IO with "path: why" in err. */
enum ar_status ar__peft_merge_copy_tokenizer(const char *base_dir, const char *out_dir, char *err,
                                             size_t err_size);

#endif

/* Evaluation internals shared by core/eval.c, eval_tokens.c and eval_lm.c. Library-internal. */
#ifndef ADARANK_CORE_EVAL_INTERNAL_H
#define ADARANK_CORE_EVAL_INTERNAL_H

#include "adarank/train.h"

/* ar_evaluate for a causal-LM model: the mean token loss over every counted target of the set
 * (completion tokens and their eos) and the perplexity exp(loss); o->losses and o->tokens (when
 * not NULL) get every example's. o is never NULL (ar_evaluate_outputs passes an empty one). */
enum ar_status ar__evaluate_lm(struct ar_ctx *ctx, struct ar_model *model,
                               const struct ar_encoded *set, int batch_size, int32_t pad_id,
                               struct ar_eval_result *out, const struct ar_eval_outputs *o);

/* ar_evaluate for a token-classification model (eval_tokens.c): token accuracy, MCC, and the
 * entity-level F1 of IOB2 tags (else the macro F1 over tags) over the labelled tokens;
 * o->token_predictions (when not NULL) gets the argmax tag of every token. */
enum ar_status ar__evaluate_tokens(struct ar_ctx *ctx, struct ar_model *model,
                                   const struct ar_encoded *set, int batch_size, int32_t pad_id,
                                   struct ar_eval_result *out, const struct ar_eval_outputs *o);

/* The batch of rows [at, at + n) of set, in order (n = min(batch_size, count − at)), padded into
 * pb (rows: batch_size ints of scratch) and viewed as *b with its per-position targets; fails,
 * with a message, when the set has none. */
enum ar_status ar__eval_token_batch(struct ar_ctx *ctx, const struct ar_encoded *set, int at,
                                    int batch_size, int32_t pad_id, int *rows,
                                    struct ar_padded_batch *pb, struct ar_batch *b);

#endif

/* Per-example predictions as JSONL (`adarank-cl eval --predictions FILE`), one line per example
 * in the data file's order (eval_predictions.c):
 *     SEQ_CLS    {"index":i,"text":…[,"text_b":…][,"label":gold],"prediction":class,
 *                 "probabilities":[p_0,…,p_{K−1}]}   (softmax of the logits, class id order)
 *     TOKEN_CLS  {"index":i,"words":[…],"tags":[gold…],"predicted":[tag or null per word]}
 *                (a word's tag is the argmax on its first sub-token, as the evaluation counts
 *                it; null for a word truncation cut off or that has no sub-token)
 *     CAUSAL_LM  {"index":i,"prompt":…,"completion":…,"loss":mean token loss,"tokens":n}
 * The file is written durably: a temporary file next to it, fsync'd, renamed into place and the
 * folder fsync'd, so a failure (full disk, missing folder) leaves no partial file and any old
 * file as it was. Library-internal (the CLI uses it). */
#ifndef ADARANK_CORE_EVAL_PREDICTIONS_H
#define ADARANK_CORE_EVAL_PREDICTIONS_H

#include <stdio.h>

#include "atomic_file.h"

#include "adarank/train.h"

/* What the lines describe: the data as read, its encoding and the evaluation's outputs. */
struct ar__predictions_source {
    enum ar_task task;
    const struct ar_dataset *ds;        /* examples in file order; class names (label_names) */
    const struct ar_encoded *set;       /* TOKEN_CLS: ds encoded, row i = example i */
    const struct ar_eval_outputs *outs; /* the task's arrays filled by ar_evaluate_outputs */
    /* TOKEN_CLS: the encoder that made set and its max length, run again per row for the word of
     * every token (ar_encoded keeps no word ids) */
    ar_encode_words_fn encode_words;
    void *user;
    int max_len;
};

/* An open temporary file that becomes `path` on commit (atomic_file.h does the durable write). */
struct ar__predictions_file {
    struct ar__atomic_file af;
};

/* Creates the temporary file next to path (before a long evaluation, so that a missing folder
 * fails at once); err gets "PATH: cannot create: why". */
enum ar_status ar__predictions_open(const char *path, struct ar__predictions_file *pf, char *err,
                                    size_t err_size);
/* Writes every line, syncs, renames into place; on any failure removes the temporary file and
 * err gets "PATH: cannot write: why". pf is closed either way. */
enum ar_status ar__predictions_commit(struct ar__predictions_file *pf,
                                      const struct ar__predictions_source *src, char *err,
                                      size_t err_size);
/* Closes and removes the temporary file (an evaluation that failed); an unopened pf is fine. */
void ar__predictions_abort(struct ar__predictions_file *pf);

#endif

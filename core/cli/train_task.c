/* `adarank-cl train`: which task a run trains, and the causal-LM encoding of its data.
 *
 *   task "causal-lm"  prompt/completion data on a GPT-2 or Llama checkpoint: completion-only
 *                     loss (ar_dataset_encode_lm), evaluated as loss and perplexity
 *   task "seq-cls"    text (or pair) classification on any checkpoint (decoders: the last
 *                     token's score, core/model_head_last_token.c)
 *   task "token-cls"  tokens/ner_tags data on BERT or RoBERTa
 * Without "task" in the config it follows from the data: prompt/completion → causal-lm,
 * tokens/tags → token-cls, else seq-cls. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train_job.h"

const char *cli_task_peft_name(enum ar_task task)
{
    switch (task) {
    case AR_TASK_CAUSAL_LM:
        return "CAUSAL_LM";
    case AR_TASK_TOKEN_CLS:
        return "TOKEN_CLS";
    default:
        return "SEQ_CLS";
    }
}

static const char *task_key(enum ar_task task)
{
    return task == AR_TASK_CAUSAL_LM   ? "causal-lm"
           : task == AR_TASK_TOKEN_CLS ? "token-cls"
                                       : "seq-cls";
}

int32_t cli_eos_id(const struct ar_tokenizer *tok, const struct ar_model_config *cfg)
{
    int32_t vocab = ar_tokenizer_vocab_size(tok);
    if (cfg->eos_token_id >= 0 && cfg->eos_token_id < vocab) return cfg->eos_token_id;
    /* by the usual names: GPT-2, Llama 1/2, Llama 3, Gemma */
    const char *names[] = {"<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int32_t id = ar_tokenizer_token_id(tok, names[i]);
        if (id >= 0) return id;
    }
    return -1;
}

static int32_t eos_id(const struct cli_job *job)
{
    return cli_eos_id(job->tok, &job->model_cfg);
}

static int refuse(const char *path, const char *what)
{
    fprintf(stderr, "adarank-cl: train: %s: %s\n", path, what);
    return CLI_EXIT_BAD_INPUT;
}

int cli_job_choose_task(struct cli_job *job)
{
    struct ar_train_config *c = job->cfg;
    enum ar_dataset_columns cols = job->train_ds->columns;
    bool decoder = job->model_cfg.arch != AR_ARCH_BERT;
    enum ar_task task = cols == AR_DATASET_COLUMNS_PROMPT   ? AR_TASK_CAUSAL_LM
                        : cols == AR_DATASET_COLUMNS_TOKENS ? AR_TASK_TOKEN_CLS
                                                            : AR_TASK_SEQ_CLS;
    if (c->task)
        task = !strcmp(c->task, "causal-lm")   ? AR_TASK_CAUSAL_LM
               : !strcmp(c->task, "token-cls") ? AR_TASK_TOKEN_CLS
                                               : AR_TASK_SEQ_CLS;
    if (task == AR_TASK_CAUSAL_LM && !decoder)
        return refuse(c->model, "task causal-lm needs a GPT-2 or Llama checkpoint (this is an "
                                "encoder: its prompt/completion data cannot be learned)");
    if (task == AR_TASK_TOKEN_CLS && decoder)
        return refuse(c->model, "task token-cls needs a BERT or RoBERTa checkpoint");
    if ((task == AR_TASK_CAUSAL_LM) != (cols == AR_DATASET_COLUMNS_PROMPT) ||
        (task == AR_TASK_TOKEN_CLS) != (cols == AR_DATASET_COLUMNS_TOKENS)) {
        char what[256];
        snprintf(what, sizeof what,
                 "task %s cannot use %s data (causal-lm: prompt, completion; seq-cls: text, "
                 "label or text_a, text_b, label; token-cls: tokens, ner_tags)",
                 task_key(task), ar_dataset_columns_name(cols));
        return refuse(c->train, what);
    }
    job->task = task;
    if (decoder && job->pad_id < 0) { /* GPT-2 has no pad token: pad with eos, masked out */
        job->pad_id = eos_id(job);
        if (job->pad_id < 0)
            return refuse(c->model, "no pad token and no eos token (eos_token_id in "
                                    "config.json, or <|endoftext|> / </s> in tokenizer.json)");
        cli_job_log(job, "padding with the eos token %d (the model has no pad token)", job->pad_id);
    }
    if (task == AR_TASK_CAUSAL_LM && c->params.metric != AR_EVAL_METRIC_LOSS) {
        cli_job_log(job,
                    "causal-lm: early stopping and \"best\" watch the validation loss "
                    "(metric %s has no meaning here)",
                    ar_eval_metric_name(c->params.metric));
        c->params.metric = AR_EVAL_METRIC_LOSS;
    }
    cli_job_log(job, "task: %s", task_key(task));
    return CLI_EXIT_OK;
}

int cli_encode_lm(const char *cmd, struct ar_tokenizer *tok, const struct ar_model_config *cfg,
                  const struct ar_dataset *ds, int max_length, struct ar_encoded **out)
{
    struct ar_lm_encoder enc = {.prompt = ar_dataset_tokenizer_encode,
                                .completion = ar_dataset_tokenizer_encode_plain,
                                .user = tok,
                                .eos_id = cli_eos_id(tok, cfg),
                                .bos_id = -1};
    if (enc.eos_id < 0) {
        fprintf(stderr,
                "adarank-cl: %s: no eos token to end the completions (eos_token_id in "
                "config.json, or <|endoftext|> / </s> in tokenizer.json)\n",
                cmd);
        return CLI_EXIT_BAD_INPUT;
    }
    /* The template's first token for an empty text is a BOS the prompt starts with (Llama). */
    int32_t first[8];
    int n = 0;
    char err[1024];
    if (ar_tokenizer_encode(tok, "", 0, NULL, 0, 8, first, NULL, &n, err, sizeof err) ==
            AR_STATUS_OK &&
        n > 0)
        enc.bos_id = first[0];
    enum ar_status st = ar_dataset_encode_lm(ds, &enc, max_length, out, err, sizeof err);
    if (st != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl: %s: %s\n", cmd, err);
        return cli_exit_for_status(st);
    }
    return CLI_EXIT_OK;
}

int cli_job_encode_lm(struct cli_job *job, const struct ar_dataset *ds, struct ar_encoded **out)
{
    int rc = cli_encode_lm("train", job->tok, &job->model_cfg, ds, job->max_length, out);
    if (rc) return rc;
    int64_t targets = 0;
    for (int64_t i = 0; i < (*out)->offsets[(*out)->count]; i++)
        targets += (*out)->token_labels[i] >= 0;
    cli_job_log(job,
                "%s: %d prompt/completion examples, longest %d tokens, %d cut to %d, %lld "
                "completion tokens (with eos %d) to learn",
                ds->path, ds->count, (*out)->max_len, (*out)->truncated, job->max_length,
                (long long)targets, eos_id(job));
    return CLI_EXIT_OK;
}

/* `adarank-cl eval`: a checkpoint plus an exported PEFT LoRA adapter (RUN_DIR/adapter) on a
 * labelled data file: loss, accuracy, macro F1 and Matthews correlation.
 *
 * The adapter is read and loaded by the library (ar_peft_adapter_read, ar_model_load_adapter):
 * the model adapts the adapter's modules at R = their largest rank, each module keeps its own rank
 * and PEFT's scale for it. Class names come from --labels or from the run's config.json next to
 * the adapter, so the ids are those of training. --predictions writes every example's prediction
 * as JSONL (core/eval_predictions.h) for looking at the errors. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../eval_predictions.h"
#include "cli.h"
#include "train_job.h"

struct eval_args {
    const char *model, *adapter, *data, *device, *labels, *predictions;
    int max_length, batch;
    bool json;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: adarank-cl eval --model DIR --adapter DIR --data FILE [options]\n\n"
                 "Evaluates the checkpoint in DIR with the PEFT LoRA adapter (as `train` writes\n"
                 "it to RUN_DIR/adapter) on a labelled data file.\n\n"
                 "  --labels A,B,...     class names in id order (default: the run's config.json\n"
                 "                       next to the adapter, else from the data)\n"
                 "  --max-length N       tokens per example (default: the run's, else 128)\n"
                 "  --batch N            examples per batch (default 64)\n"
                 "  --device D           OpenCL device index or name\n"
                 "  --json               print the metrics as JSON\n"
                 "  --predictions FILE   also write every example's prediction to FILE as JSONL,\n"
                 "                       one line per example in the data's order:\n"
                 "                       classification: index, text, label, prediction,\n"
                 "                       probabilities; token classification: index, words,\n"
                 "                       tags, predicted (a tag per word, null for a word cut\n"
                 "                       off); causal LM: index, prompt, completion, loss (mean\n"
                 "                       over the example's tokens), tokens\n");
}

/* Class names, max length and column names from the run's config.json next to the adapter. */
static void run_defaults(const char *adapter, struct ar_train_config *run, bool *have)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/../config.json", adapter);
    char err[512];
    ar_train_config_init(run);
    *have = ar_train_config_load(run, path, err, sizeof err) == AR_STATUS_OK;
}

static int parse(int argc, char **argv, struct eval_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            usage(stdout);
            return -1;
        }
        if (!strcmp(o, "--json")) {
            a->json = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "adarank-cl: eval: %s needs a value (see --help)\n", o);
            return CLI_EXIT_USAGE;
        }
        const char *v = argv[++i];
        if (!strcmp(o, "--model"))
            a->model = v;
        else if (!strcmp(o, "--adapter"))
            a->adapter = v;
        else if (!strcmp(o, "--data"))
            a->data = v;
        else if (!strcmp(o, "--device"))
            a->device = v;
        else if (!strcmp(o, "--labels"))
            a->labels = v;
        else if (!strcmp(o, "--predictions") && v[0])
            a->predictions = v;
        else if (!strcmp(o, "--max-length") && (a->max_length = atoi(v)) >= 2)
            continue;
        else if (!strcmp(o, "--batch") && (a->batch = atoi(v)) >= 1)
            continue;
        else {
            fprintf(stderr, "adarank-cl: eval: bad option %s %s (see --help)\n", o, v);
            return CLI_EXIT_USAGE;
        }
    }
    if (!a->model || !a->adapter || !a->data) {
        fprintf(stderr, "adarank-cl: eval: --model, --adapter and --data are required\n");
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

struct eval_state {
    struct ar_train_config run;
    bool have_run;
    struct ar_peft_adapter *adapter;
    struct ar_tokenizer *tok;
    struct ar_dataset *ds;
    struct ar_encoded *set;
    struct ar_ctx *ctx;
    struct ar_model *model;
    bool lm; /* the adapter's task_type is CAUSAL_LM: prompt/completion data, loss/perplexity */
    bool tokens; /* TOKEN_CLS: tokens/tags data; token accuracy, entity F1 (eval_tokens.c) */
    struct ar_model_config cfg;
};

/* Adapter files, tokenizer and data: everything that needs no device. */
static int load_inputs(const struct eval_args *a, struct eval_state *s, int max_length)
{
    char path[4096], err[2048];
    enum ar_status st = ar_peft_adapter_read(a->adapter, &s->adapter, err, sizeof err);
    if (st != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl: eval: %s\n", err);
        return CLI_EXIT_BAD_INPUT;
    }
    snprintf(path, sizeof path, "%s/tokenizer.json", a->model);
    if ((st = ar_tokenizer_load(path, &s->tok, err, sizeof err)) != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl: eval: %s\n", err);
        return cli_exit_for_status(st);
    }
    struct ar_train_config labels_cfg;
    ar_train_config_init(&labels_cfg);
    if (a->labels)
        ar_train_config_set(&labels_cfg, "labels", a->labels, err, sizeof err);
    const struct ar_train_config *lc = a->labels ? &labels_cfg : &s->run;
    struct ar_dataset_params p = ar_dataset_default_params();
    p.labels = (const char *const *)lc->labels, p.label_count = lc->label_count;
    if (s->have_run)
        p.text_column = s->run.text_column, p.text_b_column = s->run.text_b_column,
        p.label_column = s->run.label_column;
    s->tokens = s->adapter->task_type && !strcmp(s->adapter->task_type, "TOKEN_CLS");
    if (s->tokens)
        p.columns = AR_DATASET_COLUMNS_TOKENS;
    st = ar_dataset_read(a->data, &p, &s->ds, err, sizeof err);
    ar_train_config_clear(&labels_cfg);
    s->lm = s->adapter->task_type && !strcmp(s->adapter->task_type, "CAUSAL_LM");
    snprintf(path, sizeof path, "%s/config.json", a->model);
    if (st == AR_STATUS_OK)
        st = ar_model_config_load(path, &s->cfg, err, sizeof err);
    if (st == AR_STATUS_OK && s->lm) /* prompt + completion + eos (train_task.c) */
        return cli_encode_lm("eval", s->tok, &s->cfg, s->ds, max_length, &s->set);
    if (st == AR_STATUS_OK && s->tokens) /* tags on the first sub-token of each word */
        st = ar_dataset_encode_words(s->ds, ar_dataset_tokenizer_encode_words, s->tok,
                                     max_length, &s->set, err, sizeof err);
    else if (st == AR_STATUS_OK)
        st = ar_dataset_encode(s->ds, ar_dataset_tokenizer_encode, s->tok, max_length, &s->set,
                               err, sizeof err);
    if (st != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl: eval: %s\n", err);
        return cli_exit_for_status(st);
    }
    return CLI_EXIT_OK;
}

static int load_model(const struct eval_args *a, struct eval_state *s, int max_length)
{
    const struct ar_peft_tensor *head = ar_peft_adapter_tensor(s->adapter, "classifier.weight");
    if (!head)
        head = ar_peft_adapter_tensor(s->adapter, "classifier.out_proj.weight");
    if (!head) /* GPT2/LlamaForSequenceClassification */
        head = ar_peft_adapter_tensor(s->adapter, "score.weight");
    if (!s->lm && (!head || head->ndim != 2)) {
        fprintf(stderr, "adarank-cl: eval: %s: the adapter has no classifier head\n", a->adapter);
        return CLI_EXIT_BAD_INPUT;
    }
    char targets[256];
    if (ar_peft_adapter_targets(s->adapter, targets, sizeof targets) != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl: eval: %s: too many module names for the model's targets\n",
                a->adapter);
        return CLI_EXIT_BAD_INPUT;
    }
    int rc = CLI_EXIT_OK;
    if (!(s->ctx = cli_open_context(a->device, &rc)))
        return rc;
    struct ar_model_options o = ar_model_default_options();
    o.task = s->lm ? AR_TASK_CAUSAL_LM : s->tokens ? AR_TASK_TOKEN_CLS : o.task;
    o.num_labels = s->lm ? 0 : (int)head->shape[0];
    o.target_modules = targets;
    o.rank = ar_peft_adapter_max_rank(s->adapter);
    o.lora_alpha = (float)o.rank; /* engine scale 1: the modules' scales go into B */
    o.max_batch = a->batch;
    o.max_time = max_length;
    enum ar_status st = ar_model_load(s->ctx, a->model, &o, &s->model);
    if (st != AR_STATUS_OK)
        return cli_report(s->ctx, st, "loading the model");
    st = ar_model_load_adapter(s->model, s->adapter, 0);
    if (st != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl: eval: %s: %s\n", a->adapter, ar_ctx_errmsg(s->ctx));
        return cli_exit_for_status(st);
    }
    if (!s->lm && s->set->num_labels != o.num_labels) {
        fprintf(stderr, "adarank-cl: eval: the data has %d classes, the adapter's head %d "
                        "(give --labels)\n",
                s->set->num_labels, o.num_labels);
        return CLI_EXIT_BAD_INPUT;
    }
    return CLI_EXIT_OK;
}

/* The metrics line, or its JSON object with --json. */
static void print_metrics(const struct eval_args *a, const struct eval_state *s,
                          const struct ar_eval_result *r)
{
    if (s->lm && a->json)
        printf("{\"count\": %d, \"tokens\": %lld, \"loss\": %.6g, \"perplexity\": %.6g}\n",
               r->count, (long long)r->tokens, r->loss, r->perplexity);
    else if (s->lm)
        printf("%s: %d examples, %lld completion tokens: loss %.4f  perplexity %.4g\n", a->data,
               r->count, (long long)r->tokens, r->loss, r->perplexity);
    else if (s->tokens && a->json)
        printf("{\"count\": %d, \"tokens\": %lld, \"loss\": %.6g, \"accuracy\": %.6g, "
               "\"f1\": %.6g, \"mcc\": %.6g}\n",
               r->count, (long long)r->tokens, r->loss, r->accuracy, r->macro_f1, r->mcc);
    else if (s->tokens)
        printf("%s: %d examples, %lld labelled words: loss %.4f  token accuracy %.4f  %s "
               "%.4f  mcc %.4f\n",
               a->data, r->count, (long long)r->tokens, r->loss, r->accuracy,
               ar_tags_are_iob((const char *const *)s->set->label_names, s->set->num_labels)
                   ? "entity f1"
                   : "macro f1",
               r->macro_f1, r->mcc);
    else if (a->json)
        printf("{\"count\": %d, \"loss\": %.6g, \"accuracy\": %.6g, \"f1\": %.6g, "
               "\"mcc\": %.6g}\n",
               r->count, r->loss, r->accuracy, r->macro_f1, r->mcc);
    else
        printf("%s: %d examples: loss %.4f  accuracy %.4f  f1 %.4f  mcc %.4f\n", a->data,
               r->count, r->loss, r->accuracy, r->macro_f1, r->mcc);
}

/* The per-example arrays of the model's task that --predictions needs (none without it). */
static bool outputs_alloc(const struct eval_state *s, bool want, struct ar_eval_outputs *o)
{
    *o = (struct ar_eval_outputs){0};
    size_t n = (size_t)s->set->count;
    if (!want)
        return true;
    if (s->lm) {
        o->losses = malloc(n * sizeof *o->losses);
        o->tokens = malloc(n * sizeof *o->tokens);
        return o->losses && o->tokens;
    }
    if (s->tokens) {
        size_t all = (size_t)s->set->offsets[n] + 1;
        return (o->token_predictions = malloc(all * sizeof *o->token_predictions)) != NULL;
    }
    o->predictions = malloc(n * sizeof *o->predictions);
    o->probabilities = malloc(n * (size_t)s->set->num_labels * sizeof *o->probabilities);
    return o->predictions && o->probabilities;
}

static void outputs_free(struct ar_eval_outputs *o)
{
    free(o->predictions), free(o->probabilities), free(o->token_predictions);
    free(o->losses), free(o->tokens);
}

/* Evaluates, prints the metrics, and with --predictions fills and commits pf (opened). */
static int evaluate(const struct eval_args *a, struct eval_state *s, int max_length,
                    struct ar__predictions_file *pf)
{
    int32_t pad = ar_tokenizer_pad_id(s->tok);
    if (pad < 0 && s->cfg.arch != AR_ARCH_BERT) /* decoders pad with eos, as `train` */
        pad = s->cfg.pad_token_id >= 0 ? s->cfg.pad_token_id : cli_eos_id(s->tok, &s->cfg);
    struct ar_eval_outputs o;
    if (!outputs_alloc(s, pf->af.f != NULL, &o)) {
        outputs_free(&o);
        fprintf(stderr, "adarank-cl: eval: out of memory for the predictions of %d examples\n",
                s->set->count);
        return cli_exit_for_status(AR_STATUS_OUT_OF_MEMORY);
    }
    struct ar_eval_result r;
    enum ar_status st = ar_evaluate_outputs(s->ctx, s->model, s->set, a->batch,
                                            pad >= 0 ? pad : 0, &r, &o);
    int rc = st != AR_STATUS_OK ? cli_report(s->ctx, st, "evaluating") : CLI_EXIT_OK;
    if (!rc)
        print_metrics(a, s, &r);
    if (!rc && pf->af.f) {
        const struct ar__predictions_source src = {
            .task = s->lm       ? AR_TASK_CAUSAL_LM
                    : s->tokens ? AR_TASK_TOKEN_CLS
                                : AR_TASK_SEQ_CLS,
            .ds = s->ds,
            .set = s->set,
            .outs = &o,
            .encode_words = ar_dataset_tokenizer_encode_words,
            .user = s->tok,
            .max_len = max_length,
        };
        char err[4600];
        st = ar__predictions_commit(pf, &src, err, sizeof err);
        if (st != AR_STATUS_OK) {
            fprintf(stderr, "adarank-cl: eval: --predictions: %s\n", err);
            rc = cli_exit_for_status(st);
        }
    }
    outputs_free(&o);
    return rc;
}

/* SIGINT/SIGTERM while --predictions' temporary file exists: remove it, then die of the signal
 * as if unhandled (unlink, signal and raise are async-signal-safe). Nothing else is lost: eval
 * writes no other file. */
static char tmp_to_remove[4200];

static void on_signal(int sig)
{
    if (tmp_to_remove[0]) unlink(tmp_to_remove);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void remove_tmp_on_signal(const char *tmp)
{
    snprintf(tmp_to_remove, sizeof tmp_to_remove, "%s", tmp ? tmp : "");
    struct sigaction sa = {0};
    sa.sa_handler = tmp ? on_signal : SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_eval(int argc, char **argv)
{
    struct eval_args a = {.batch = 64};
    int rc = parse(argc, argv, &a);
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    /* the file is created first, so that a missing folder fails before a long evaluation */
    struct ar__predictions_file pf = {0};
    char perr[4600];
    if (a.predictions && ar__predictions_open(a.predictions, &pf, perr, sizeof perr)) {
        fprintf(stderr, "adarank-cl: eval: --predictions: %s\n", perr);
        return CLI_EXIT_BAD_INPUT;
    }
    if (pf.af.tmp) remove_tmp_on_signal(pf.af.tmp);
    struct eval_state s = {0};
    run_defaults(a.adapter, &s.run, &s.have_run);
    int max_length = a.max_length ? a.max_length : s.have_run ? s.run.max_length : 128;
    char cfg_path[4096], cfg_err[512];
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", a.model);
    if (ar_model_config_load(cfg_path, &s.cfg, cfg_err, sizeof cfg_err) == AR_STATUS_OK &&
        max_length > s.cfg.max_positions) /* as `train` does: at most the model's positions */
        max_length = s.cfg.max_positions;
    rc = load_inputs(&a, &s, max_length);
    if (!rc)
        rc = load_model(&a, &s, max_length);
    if (!rc)
        rc = evaluate(&a, &s, max_length, &pf);
    ar__predictions_abort(&pf); /* a failed run leaves no partial file (nothing once committed) */
    if (a.predictions) remove_tmp_on_signal(NULL);
    ar_model_free(s.model);
    ar_ctx_free(s.ctx);
    ar_encoded_free(s.set);
    ar_dataset_free(s.ds);
    ar_tokenizer_free(s.tok);
    ar_peft_adapter_free(s.adapter);
    ar_train_config_clear(&s.run);
    return rc;
}

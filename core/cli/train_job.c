/* `adarank-cl train`, the job: run folder, data, model, trainer, metrics, test, outputs.
 *
 * Order matters for the user's time: the cheap checks (run folder, config, tokenizer, every data
 * file with all its bad rows) come before the model is loaded onto the device; the run folder is
 * made only after that, so a start that fails leaves none behind. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train_job.h"

#if defined(ADARANK_WITH_CAIRO)
#include "adarank/render.h"
#endif

/* ---- the run folder (checked, made and reset in run_dir.c) ----------------------------------- */

static bool write_file(const char *path, const char *text, char *err, size_t err_size)
{
    FILE *f = fopen(path, "wb");
    bool ok = f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0)
        ok = false;
    if (!ok)
        snprintf(err, err_size, "%.2048s: cannot write: %s", path, strerror(errno));
    return ok;
}

/* ---- data --------------------------------------------------------------------------------- */

static int read_data(struct cli_job *job, const char *path, const struct ar_dataset *like,
                     struct ar_dataset **out)
{
    const struct ar_train_config *c = job->cfg;
    struct ar_dataset_params p = ar_dataset_default_params();
    p.text_column = c->text_column;
    p.text_b_column = c->text_b_column;
    p.label_column = c->label_column;
    p.skip_bad_rows = c->skip_bad_rows;
    if (like) { /* validation and test use the training file's class ids */
        p.labels = (const char *const *)like->label_names, p.label_count = like->num_labels;
        p.columns = like->columns;
    } else if (c->labels) {
        p.labels = (const char *const *)c->labels, p.label_count = c->label_count;
    }
    if (!like && c->task && !strcmp(c->task, "token-cls")) /* also with other column names */
        p.columns = AR_DATASET_COLUMNS_TOKENS;
    char err[4096];
    enum ar_status st = ar_dataset_read(path, &p, out, err, sizeof err);
    if (st != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl: train: %s\n", err);
        return cli_exit_for_status(st);
    }
    if ((*out)->skipped)
        fprintf(stderr, "adarank-cl: warning: %s: skipped %d bad rows:\n%s", path,
                (*out)->skipped, (*out)->skip_report ? (*out)->skip_report : "");
    return CLI_EXIT_OK;
}

static int encode(struct cli_job *job, const struct ar_dataset *ds, struct ar_encoded **out)
{
    char err[1024];
    if (job->task == AR_TASK_CAUSAL_LM) /* prompt + completion + eos (train_task.c) */
        return cli_job_encode_lm(job, ds, out);
    enum ar_status st =
        job->task == AR_TASK_TOKEN_CLS /* words → sub-tokens, tags on the first of each word */
            ? ar_dataset_encode_words(ds, ar_dataset_tokenizer_encode_words, job->tok,
                                      job->max_length, out, err, sizeof err)
            : ar_dataset_encode(ds, ar_dataset_tokenizer_encode, job->tok, job->max_length, out,
                                err, sizeof err);
    if (st != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl: train: %s\n", err);
        return cli_exit_for_status(st);
    }
    cli_job_log(job, "%s: %d examples, longest %d tokens, %d cut to %d", ds->path, ds->count,
                (*out)->max_len, (*out)->truncated, job->max_length);
    return CLI_EXIT_OK;
}

/* Tokenizer and every data file, tokenized; validation split off when none is given. */
static int load_data(struct cli_job *job)
{
    const struct ar_train_config *c = job->cfg;
    char err[1024], path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", c->model);
    enum ar_status st = ar_tokenizer_load(path, &job->tok, err, sizeof err);
    if (st != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl: train: %s\n", err);
        return cli_exit_for_status(st);
    }
    int32_t pad = ar_tokenizer_pad_id(job->tok);
    job->pad_id = pad >= 0 ? pad : job->model_cfg.pad_token_id;
    int rc = read_data(job, c->train, NULL, &job->train_ds);
    if (!rc) /* from the config, the training data and the model (train_task.c) */
        rc = cli_job_choose_task(job);
    if (!rc && c->validation)
        rc = read_data(job, c->validation, job->train_ds, &job->val_ds);
    if (!rc && c->test)
        rc = read_data(job, c->test, job->train_ds, &job->test_ds);
    if (rc)
        return rc;
    struct ar_encoded *all = NULL;
    if ((rc = encode(job, job->train_ds, &all)))
        return rc;
    if (job->val_ds) {
        job->train = all;
        rc = encode(job, job->val_ds, &job->val);
    } else {
        st = ar_encoded_split(all, c->validation_fraction, c->params.seed, &job->train,
                              &job->val, err, sizeof err);
        ar_encoded_free(all);
        if (st != AR_STATUS_OK) {
            fprintf(stderr, "adarank-cl: train: %s: %s\n", c->train, err);
            return cli_exit_for_status(st);
        }
        cli_job_log(job, "validation: %d examples split off %s (fraction %g, seed %llu)",
                    job->val->count, c->train, c->validation_fraction,
                    (unsigned long long)c->params.seed);
    }
    if (!rc && job->test_ds)
        rc = encode(job, job->test_ds, &job->test);
    return rc;
}

/* ---- model and metrics ------------------------------------------------------------------- */

static struct ar_model_options model_options(const struct cli_job *job)
{
    const struct ar_train_config *c = job->cfg;
    struct ar_model_options o = ar_model_default_options();
    o.task = job->task;
    o.num_labels = job->task == AR_TASK_CAUSAL_LM ? 0 : job->train->num_labels;
    o.target_modules = c->targets;
    o.rank = c->rank;
    o.lora_alpha = (float)c->alpha;
    o.lora_dropout = (float)c->lora_dropout;
    o.use_rslora = c->rslora;
    o.hidden_dropout = (float)c->hidden_dropout;
    o.max_batch = c->params.batch_size > c->params.eval_batch_size ? c->params.batch_size
                                                                   : c->params.eval_batch_size;
    o.max_time = job->max_length;
    o.seed = c->params.seed;
    return o;
}

static int load_model(struct cli_job *job)
{
    const struct ar_train_config *c = job->cfg;
    struct ar_model_options o = model_options(job);
    enum ar_status st = ar_model_load(job->ctx, c->model, &o, &job->model);
    if (st != AR_STATUS_OK)
        return cli_report(job->ctx, st, "loading the model");
    enum ar_method_kind kind = AR_METHOD_LORA;
    ar_method_kind_parse(c->method, &kind); /* checked with the config */
    struct ar_method_params mp = c->method_params; /* the config's method keys */
    mp.kind = kind;
    mp.lora.ranks = NULL;
    st = ar_method_new(job->ctx, job->model, &mp, c->params.seed, &job->method);
    if (st != AR_STATUS_OK)
        return cli_report(job->ctx, st, "setting up the rank method");
    int rc = cli_job_adapter_load(job); /* --init-adapter */
    if (rc)
        return rc;
    int n = ar_model_module_count(job->model);
    size_t trainable = ar_arena_layout_total(ar_model_arena(job->model)->layout);
    cli_job_log(job, "model %s: %d adapted modules, %zu trainable floats (arena), %d classes",
                c->model, n, trainable, o.num_labels);
    return CLI_EXIT_OK;
}

/* The retraining stage of AutoLoRA and Flexora (METHODS.md §2.4, §4.2): the searched model and
 * method are dropped and the checkpoint is loaded again, so the adapter starts fresh (A from the
 * seed, B = 0), as plain LoRA with the found rank pattern. */
int cli_job_reload_lora(struct cli_job *job, const int *ranks, bool scale_by_rank)
{
    ar_trainer_free(job->trainer);
    job->trainer = NULL;
    ar_method_free(job->method);
    job->method = NULL;
    ar_model_free(job->model);
    job->model = NULL;
    struct ar_model_options o = model_options(job);
    enum ar_status st = ar_model_load(job->ctx, job->cfg->model, &o, &job->model);
    if (st != AR_STATUS_OK)
        return cli_report(job->ctx, st, "loading the model for the retraining");
    struct ar_method_params mp = ar_method_default_params(AR_METHOD_LORA);
    mp.lora.ranks = ranks;
    mp.lora.scale_by_rank = scale_by_rank;
    st = ar_method_new(job->ctx, job->model, &mp, job->cfg->params.seed, &job->method);
    if (st != AR_STATUS_OK)
        return cli_report(job->ctx, st, "setting up the retraining's LoRA");
    return CLI_EXIT_OK;
}

static int open_metrics(struct cli_job *job)
{
    int n = ar_model_module_count(job->model);
    struct ar_metrics_module *mods = calloc((size_t)(n > 0 ? n : 1), sizeof *mods);
    if (!mods)
        return CLI_EXIT_FAILURE;
    for (int i = 0; i < n; i++) {
        const struct ar_model_module *m = ar_model_module(job->model, i);
        mods[i] = (struct ar_metrics_module){m->name, m->layer, m->in, m->out, m->rank};
    }
    struct ar_metrics_run_info info = {0};
    info.method = job->cfg->method;
    info.model = job->cfg->model;
    info.device = ar_ctx_device(job->ctx)->name;
    info.config_json = job->config_json;
    info.resumed = job->ui->resume; /* appends after the part cli_job_resume_prepare kept */
    info.modules = mods;
    info.n_modules = n;
    info.n_layers = ar_model_config(job->model)->num_layers;
    char path[4096], err[1024];
    snprintf(path, sizeof path, "%s/%s", job->cfg->out, AR_METRICS_FILE);
    enum ar_status st = ar_metrics_writer_open(path, &info, &job->metrics, err, sizeof err);
    free(mods);
    if (st != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl: train: %s\n", err);
        return cli_exit_for_status(st);
    }
    /* TensorBoard is a convenience: a failure to open it is a warning, not a failed run */
    if (ar_tb_writer_open(job->cfg->out, &job->tb, err, sizeof err) != AR_STATUS_OK) {
        cli_job_log(job, "adarank-cl: warning: no TensorBoard events: %s", err);
        job->tb = NULL;
    }
    return CLI_EXIT_OK;
}

/* RUN_DIR/config.json (which also marks the folder as a run folder) and the one-line copy
 * metrics.jsonl embeds. */
static int write_config(struct cli_job *job)
{
    char err[4096], path[4096];
    char *pretty = ar_train_config_to_json(job->cfg, true);
    free(job->config_json);
    job->config_json = ar_train_config_to_json(job->cfg, false);
    if (!pretty || !job->config_json) {
        free(pretty);
        return CLI_EXIT_FAILURE;
    }
    snprintf(path, sizeof path, "%s/config.json", job->cfg->out);
    bool written = write_file(path, pretty, err, sizeof err);
    free(pretty);
    if (!written) {
        fprintf(stderr, "adarank-cl: train: %s\n", err);
        return CLI_EXIT_BAD_INPUT;
    }
    return CLI_EXIT_OK;
}

/* `train`, once the data and the model have loaded: the run folder, made or cleared of an
 * earlier run's checkpoints, with config.json (which marks it as a run folder). */
static int make_run_dir(struct cli_job *job)
{
    char err[4096];
    int rc = cli_run_dir_make(job->cfg->out, job->made_dir, sizeof job->made_dir, err, sizeof err);
    if (rc) {
        fprintf(stderr, "adarank-cl: train: %s\n", err);
        cli_run_dir_undo(job->made_dir); /* parents made before the failure */
        return rc;
    }
    cli_config_absolute_paths(job->cfg); /* config.json must mean the same files to `resume` */
    cli_run_dir_reset(job->cfg->out);
    if ((rc = write_config(job)))
        cli_run_dir_undo(job->made_dir);
    return rc;
}

/* `resume`: the run folder and its config.json are the train command's; only the one-line copy
 * for metrics.jsonl is made. */
static int resume_config(struct cli_job *job, char *err, size_t err_size)
{
    job->config_json = ar_train_config_to_json(job->cfg, false);
    snprintf(err, err_size, "out of memory");
    return job->config_json ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

/* ---- the whole job -------------------------------------------------------------------------- */

static int run_job(struct cli_job *job)
{
    struct ar_train_config *c = job->cfg;
    char err[4096], path[4096];
    int rc = job->ui->resume ? resume_config(job, err, sizeof err)
                             : cli_run_dir_check(c->out, err, sizeof err);
    if (rc) {
        fprintf(stderr, "adarank-cl: train: %s\n", err);
        return rc;
    }
    snprintf(path, sizeof path, "%s/config.json", c->model);
    enum ar_status st = ar_model_config_load(path, &job->model_cfg, err, sizeof err);
    if (st != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl: train: %s\n", err);
        return cli_exit_for_status(st);
    }
    job->max_length = c->max_length;
    int positions = job->model_cfg.max_positions;
    if (positions > 0 && job->max_length > positions) {
        cli_job_log(job, "max_length %d is above the model's %d positions: using %d",
                    job->max_length, positions, positions);
        job->max_length = positions;
    }
    if ((rc = cli_job_adapter_prepare(job)) || (rc = load_data(job)))
        return rc;
    /* the effective config names the classes: evaluation maps them alike */
    if (!c->labels && ar_train_config_set_labels(c, (const char *const *)job->train_ds->label_names,
                                                 job->train_ds->num_labels) != AR_STATUS_OK)
        return CLI_EXIT_FAILURE;
    if (!(job->ctx = cli_open_context(c->device, &rc)))
        return rc;
    cli_job_log(job, "device: %s", ar_ctx_device(job->ctx)->name);
    if ((rc = load_model(job)) || (job->ui->resume && (rc = cli_job_resume_prepare(job))) ||
        (!job->ui->resume && (rc = make_run_dir(job))))
        return rc;
    if ((rc = open_metrics(job))) {
        cli_run_dir_undo(job->made_dir);
        return rc;
    }
    return cli_job_train(job);
}

int cli_train_job(struct ar_train_config *cfg, const struct cli_train_ui *ui,
                  volatile sig_atomic_t *stop)
{
    struct cli_job job = {.cfg = cfg, .ui = ui, .stop = stop};
    int rc = run_job(&job);
    bool ran = job.metrics != NULL;
    if (job.metrics) {
        const char *status = rc == CLI_EXIT_OK            ? "completed"
                             : rc == CLI_EXIT_INTERRUPTED ? "interrupted"
                                                          : "failed";
        ar_metrics_write_end(job.metrics, job.final_step, status, job.elapsed, job.final_ranks,
                             job.end_message[0] ? job.end_message : NULL);
        if (ar_metrics_writer_close(job.metrics) != AR_STATUS_OK && rc == CLI_EXIT_OK)
            rc = CLI_EXIT_BAD_INPUT;
        job.metrics = NULL;
    }
    if (ran && (rc == CLI_EXIT_OK || rc == CLI_EXIT_INTERRUPTED)) {
        int out_rc = cli_job_outputs(&job);
        rc = rc ? rc : out_rc;
    }
    ar_tb_writer_close(job.tb);
    free(job.final_ranks);
    free(job.search_ranks);
    free(job.state_json);
    ar_trainer_free(job.trainer);
    ar_method_free(job.method);
    ar_model_free(job.model);
    ar_peft_adapter_free(job.init_adapter);
    ar_encoded_free(job.train), ar_encoded_free(job.val), ar_encoded_free(job.test);
    ar_dataset_free(job.train_ds), ar_dataset_free(job.val_ds), ar_dataset_free(job.test_ds);
    ar_tokenizer_free(job.tok);
    ar_ctx_free(job.ctx);
    free(job.config_json);
    return rc;
}

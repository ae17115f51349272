/* `adarank-cl train`: the method-specific stages around the training run.
 *
 *   AutoLoRA (METHODS.md §2.2–§2.4) and Flexora (§4.1–§4.2) search first: the training set is
 *   split into a part the LoRA factors train on and a search part the selection variables
 *   (AutoLoRA's β, Flexora's α) train on, one bilevel step per optimizer step; the found ranks
 *   (ar_method_final_ranks: AutoLoRA's softmax(β) ≥ 1/R, Flexora's selected layers) then go to
 *   a fresh model with plain LoRA, which is trained on the whole training set. AutoLoRA's
 *   retraining scales each module by α/r_i (lora_glue.py's 16/r_l, §6 item 7); Flexora's keeps
 *   α/R on the selected layers (sft.yaml retrains the same LoRA, §4.2).
 *   The retraining's steps continue the search's numbering in metrics.jsonl, so the heatmap shows
 *   the searched ranks, then the retrained pattern; the exported adapter is the retrained one and
 *   its sidecar keeps the search's ranks. Both stages write checkpoints, and the retraining's
 *   start records the search's result, so `resume` continues either stage (resume.c).
 *
 *   DyLoRA (§3.3): one run trains every rank at once; afterwards the adapter is evaluated at each
 *   rank 1..R, written as eval events with split "validation@rK" (and "test@rK") and as
 *   RUN_DIR/dylora_ranks.tsv.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../json.h"
#include "cli.h"
#include "train_job.h"

static enum ar_method_kind job_kind(const struct cli_job *job)
{
    enum ar_method_kind kind = AR_METHOD_LORA;
    ar_method_kind_parse(job->cfg->method, &kind); /* checked with the config */
    return kind;
}

/* Steps the retraining will take: a throw-away trainer counts them as the real one will. */
static int retrain_steps(struct cli_job *job, const struct ar_train_params *p, int *out)
{
    struct ar_trainer *t = NULL;
    enum ar_status st = ar_trainer_new(job->ctx, job->model, p, job->train, NULL, &t);
    if (st != AR_STATUS_OK)
        return cli_report(job->ctx, st, "train");
    *out = ar_trainer_total_steps(t);
    ar_trainer_free(t);
    return CLI_EXIT_OK;
}

/* The sidecar's method state: what the search found, for a reader of the exported adapter. */
static void search_state(struct cli_job *job, enum ar_method_kind kind, int n, double val_frac)
{
    struct ar__json_buf b = {0};
    ar__json_put(&b, "{\"stage\": \"retrained\", \"search_method\": ");
    ar__json_write_string(&b, ar_method_kind_name(kind));
    ar__json_put(&b, ", \"search_steps\": ");
    ar__json_write_int(&b, job->search_steps);
    char num[64];
    ar__json_format_double(num, sizeof num, "%.6g", val_frac);
    ar__json_put(&b, ", \"search_val_fraction\": ");
    ar__json_put(&b, num);
    ar__json_put(&b, ", \"retrain_scale_by_rank\": ");
    ar__json_put(&b, kind == AR_METHOD_AUTOLORA ? "true" : "false");
    ar__json_put(&b, ", \"search_ranks\": [");
    for (int i = 0; i < n; i++) {
        ar__json_put(&b, i ? ", " : "");
        ar__json_write_int(&b, job->search_ranks[i]);
    }
    ar__json_put(&b, "]}");
    free(job->state_json);
    job->state_json = b.oom ? NULL : b.data;
    if (b.oom)
        ar__json_buf_free(&b);
}

static void log_ranks(struct cli_job *job, const char *what, const int *ranks, int n)
{
    char line[2048];
    size_t at = 0;
    long total = 0;
    for (int i = 0; i < n; i++) {
        total += ranks[i];
        if (at < sizeof line - 16)
            at += (size_t)snprintf(line + at, sizeof line - at, "%s%d", i ? " " : "", ranks[i]);
    }
    cli_job_log(job, "%s: ranks [%s] (total %ld of %d)", what, line, total, n * job->cfg->rank);
}

/* The search's result to the retraining (METHODS.md §2.4, §4.2): the sidecar's state and a fresh
 * LoRA at the found ranks, whose steps continue the search's numbering. */
static int start_retraining(struct cli_job *job, enum ar_method_kind kind, double val_frac)
{
    int n = ar_model_module_count(job->model);
    log_ranks(job, "search", job->search_ranks, n);
    search_state(job, kind, n, val_frac);
    job->stage = 2;
    cli_job_log(job, "stage 2/2: a fresh LoRA at these ranks, trained on all %d examples",
                job->train->count);
    return cli_job_reload_lora(job, job->search_ranks, kind == AR_METHOD_AUTOLORA);
}

/* The search trainer on `fit` with the method's selection variables on `search`; resuming the
 * search, from its checkpoint (resume.c). */
static enum ar_status run_search(struct cli_job *job, const struct ar_train_params *p,
                                 const struct ar_encoded *fit, const struct ar_encoded *search,
                                 const struct ar_train_hooks *hooks, int *rc)
{
    enum ar_status st = ar_trainer_new(job->ctx, job->model, p, fit, job->val, &job->trainer);
    if (st == AR_STATUS_OK)
        st = ar_method_set_search_data(job->method, search, p->batch_size, job->pad_id);
    if (st == AR_STATUS_OK)
        st = ar_method_attach(job->method, job->trainer);
    if (st == AR_STATUS_OK)
        st = ar_trainer_add_hooks(job->trainer, hooks);
    if (st == AR_STATUS_OK && (*rc = cli_job_checkpoints(job)))
        return AR_STATUS_OK;
    if (st == AR_STATUS_OK)
        st = ar_trainer_run(job->trainer);
    if (st == AR_STATUS_INTERRUPTED)
        cli_job_checkpoint_stop(job);
    return st;
}

int cli_job_search_stage(struct cli_job *job, const struct ar_train_hooks *hooks)
{
    enum ar_method_kind kind = job_kind(job);
    if (kind != AR_METHOD_AUTOLORA && kind != AR_METHOD_FLEXORA)
        return CLI_EXIT_OK;
    const struct ar_train_config *c = job->cfg;
    const struct ar_method_params *mp = &c->method_params;
    double val_frac = kind == AR_METHOD_AUTOLORA ? mp->autolora.val_fraction
                                                 : c->flexora_val_fraction;
    if (job->stage == 2) /* resumed in the retraining: the search's result is recorded */
        return start_retraining(job, kind, val_frac);
    double share = kind == AR_METHOD_AUTOLORA ? c->autolora_search_fraction
                                              : mp->flexora.search_fraction;
    struct ar_train_params p = c->params;
    p.pad_id = job->pad_id;
    p.stop = job->stop;
    int total = 0, rc = retrain_steps(job, &p, &total);
    if (rc)
        return rc;
    job->search_steps = (int)lround(share * total) > 0 ? (int)lround(share * total) : 1;
    p.max_steps = job->search_steps;
    p.eval_every = 0; /* one validation at the end of the search */
    p.patience = 0, p.restore_best = false;

    /* a different seed stream from the train/validation split of load_data */
    char err[1024];
    struct ar_encoded *fit = NULL, *search = NULL;
    enum ar_status st = ar_encoded_split(job->train, val_frac, c->params.seed ^ 0x5ea7c4ULL, &fit,
                                         &search, err, sizeof err);
    if (st != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl: train: the search split: %s\n", err);
        return cli_exit_for_status(st);
    }
    cli_job_log(job, "stage 1/2: %s search, %d steps on %d examples, search split %d examples",
                ar_method_kind_name(kind), job->search_steps, fit->count, search->count);
    job->stage_examples = fit->count;
    job->stage = 1;
    st = run_search(job, &p, fit, search, hooks, &rc);
    job->stage_examples = 0;
    int n = ar_model_module_count(job->model);
    free(job->search_ranks);
    job->search_ranks = st == AR_STATUS_OK && !rc ? calloc((size_t)n, sizeof(int)) : NULL;
    if (st == AR_STATUS_OK && !rc && !job->search_ranks)
        st = AR_STATUS_OUT_OF_MEMORY;
    if (st == AR_STATUS_OK && !rc)
        st = ar_method_final_ranks(job->method, job->search_ranks);
    if (st == AR_STATUS_OK && !rc) {
        job->step_offset = job->final_step; /* the END event set it */
        job->elapsed_offset = job->elapsed;
        if (job->ui->resume) { /* the retraining after a resumed search starts fresh */
            job->fresh_ui = *job->ui;
            job->fresh_ui.resume = false;
            job->ui = &job->fresh_ui;
        }
        rc = start_retraining(job, kind, val_frac);
    } else if (!rc) {
        snprintf(job->end_message, sizeof job->end_message, "%s", ar_ctx_errmsg(job->ctx));
        rc = st == AR_STATUS_INTERRUPTED ? CLI_EXIT_INTERRUPTED
                                         : cli_report(job->ctx, st, "the search stage");
    }
    /* the sets outlive the trainer and the method that borrowed them */
    if (rc) {
        ar_trainer_free(job->trainer); /* the method keeps its search set until freed */
        job->trainer = NULL;
        ar_method_free(job->method);
        job->method = NULL;
    }
    ar_encoded_free(fit);
    ar_encoded_free(search);
    return rc;
}

/* ---- DyLoRA: every rank of one adapter ------------------------------------------------------- */

static long lora_params_at(const struct cli_job *job, int rank)
{
    long total = 0;
    for (int i = 0; i < ar_model_module_count(job->model); i++) {
        const struct ar_model_module *m = ar_model_module(job->model, i);
        total += (long)(rank < m->rank ? rank : m->rank) * (m->in + m->out);
    }
    return total;
}

static enum ar_status eval_split(struct cli_job *job, const struct ar_encoded *set,
                                 const char *split, int rank, struct ar_eval_result *r)
{
    const struct ar_train_params *p = &job->cfg->params;
    enum ar_status st = ar_evaluate(job->ctx, job->model, set, p->eval_batch_size, job->pad_id, r,
                                    NULL);
    if (st != AR_STATUS_OK)
        return st;
    char name[64];
    snprintf(name, sizeof name, "%s@r%d", split, rank);
    struct ar_metrics_eval e = {job->final_step, name, r->loss, r->accuracy, r->macro_f1, r->mcc};
    if (ar_metrics_write_eval(job->metrics, &e) != AR_STATUS_OK)
        cli_job_log(job, "adarank-cl: warning: %s", ar_metrics_writer_errmsg(job->metrics));
    return AR_STATUS_OK;
}

int cli_job_dylora_sweep(struct cli_job *job)
{
    if (job_kind(job) != AR_METHOD_DYLORA)
        return CLI_EXIT_OK;
    char path[4096];
    snprintf(path, sizeof path, "%s/dylora_ranks.tsv", job->cfg->out);
    FILE *f = fopen(path, "w");
    if (!f)
        cli_job_log(job, "adarank-cl: warning: %s: cannot write", path);
    const char *head = "rank\tlora_params\tvalidation_loss\tvalidation_accuracy\tvalidation_f1"
                       "\tvalidation_mcc";
    if (f)
        fprintf(f, "%s%s\n", head,
                job->test ? "\ttest_loss\ttest_accuracy\ttest_f1\ttest_mcc" : "");
    cli_job_log(job, "DyLoRA: every rank of the trained adapter (METHODS.md §3.3)");
    cli_job_log(job, "  rank  params   val acc  val f1   val loss%s", job->test ? "  test acc" : "");
    int max_rank = job->cfg->rank;
    enum ar_status st = AR_STATUS_OK;
    for (int r = 1; r <= max_rank && st == AR_STATUS_OK; r++) {
        struct ar_eval_result v = {0}, t = {0};
        st = ar_method_set_rank(job->method, r);
        if (st == AR_STATUS_OK)
            st = eval_split(job, job->val, "validation", r, &v);
        if (st == AR_STATUS_OK && job->test)
            st = eval_split(job, job->test, "test", r, &t);
        if (st != AR_STATUS_OK)
            break;
        cli_job_log(job, "  %4d  %7ld  %.4f   %.4f   %.4f%s%.4f", r, lora_params_at(job, r),
                    v.accuracy, v.macro_f1, v.loss, job->test ? "    " : "",
                    job->test ? t.accuracy : NAN);
        if (f) {
            fprintf(f, "%d\t%ld\t%.6g\t%.6g\t%.6g\t%.6g", r, lora_params_at(job, r), v.loss,
                    v.accuracy, v.macro_f1, v.mcc);
            if (job->test)
                fprintf(f, "\t%.6g\t%.6g\t%.6g\t%.6g", t.loss, t.accuracy, t.macro_f1, t.mcc);
            fputc('\n', f);
        }
    }
    if (f && fclose(f) != 0)
        cli_job_log(job, "adarank-cl: warning: %s: cannot write", path);
    if (st == AR_STATUS_OK) /* back to full rank: the test evaluation and the export use R */
        st = ar_method_set_rank(job->method, max_rank);
    if (st != AR_STATUS_OK)
        return cli_report(job->ctx, st, "DyLoRA rank sweep");
    cli_job_log(job, "DyLoRA table: %s", path);
    return CLI_EXIT_OK;
}

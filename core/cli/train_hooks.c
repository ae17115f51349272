/* `adarank-cl train`: the trainer's hooks (metrics.jsonl records, the progress line, log lines),
 * the test evaluation and the outputs written after the run. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "train_job.h"


void cli_job_log(struct cli_job *job, const char *fmt, ...)
{
    if (job->line_open) {
        fputc('\n', stderr);
        job->line_open = false;
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void duration(double s, char *out, size_t size)
{
    if (!isfinite(s) || s < 0)
        snprintf(out, size, "?");
    else if (s >= 3600)
        snprintf(out, size, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else if (s >= 60)
        snprintf(out, size, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(out, size, "%.0fs", s);
}

/* A "ranks" record from the method's report: effective and allocated rank of every module,
 * its gate / selection / importance values (the heatmap's rows) and the method's threshold. */
static enum ar_status write_ranks(struct cli_job *job, int64_t step, bool record, bool final)
{
    const struct ar_method_report *rep = NULL;
    enum ar_status st = ar_method_report(job->method, &rep);
    if (st != AR_STATUS_OK)
        return st;
    struct ar_metrics_ranks r = {0};
    r.step = step, r.effective = rep->effective, r.allocated = rep->allocated;
    r.sparsity = rep->sparsity, r.threshold = rep->threshold;
    const char *kind = rep->values_kind ? rep->values_kind : "";
    if (rep->values) {
        r.values_count = rep->values_count;
        const float *const *v = (const float *const *)rep->values;
        if (!strcmp(kind, "gate") || !strcmp(kind, "mask"))
            r.gate = v;
        else if (!strcmp(kind, "selection"))
            r.selection = v;
        else if (!strcmp(kind, "importance"))
            r.importance = v;
        else
            r.values_count = NULL;
    }
    if (rep->layer_score)
        r.n_layers = rep->n_layers, r.layer_score = rep->layer_score,
        r.layer_selected = rep->layer_selected;
    if (record && (st = ar_metrics_write_ranks(job->metrics, &r)) != AR_STATUS_OK)
        return st;
    if (final) {
        free(job->final_ranks);
        job->final_ranks = malloc((size_t)(rep->n_modules > 0 ? rep->n_modules : 1) * sizeof(int));
        if (job->final_ranks)
            memcpy(job->final_ranks, rep->effective, (size_t)rep->n_modules * sizeof(int));
    }
    return AR_STATUS_OK;
}

static void tb_scalar(struct cli_job *job, const char *tag, int64_t step, double v)
{
    if (job->tb && isfinite(v) && ar_tb_add_scalar(job->tb, tag, step, (float)v) != AR_STATUS_OK) {
        cli_job_log(job, "adarank-cl: warning: TensorBoard: %s", ar_tb_writer_errmsg(job->tb));
        ar_tb_writer_close(job->tb);
        job->tb = NULL;
    }
}

void cli_job_tb_eval(struct cli_job *job, int64_t step, const char *split,
                     const struct ar_eval_result *r)
{
    char tag[64];
    const char *names[] = {"loss", "accuracy", "f1", "mcc", "perplexity"};
    double values[] = {r->loss, r->accuracy, r->macro_f1, r->mcc, r->perplexity};
    for (int i = 0; i < 5; i++) {
        snprintf(tag, sizeof tag, "%s/%s", split, names[i]);
        tb_scalar(job, tag, step, values[i]);
    }
    if (job->tb)
        ar_tb_flush(job->tb);
}

static void log_eval(struct cli_job *job, int step, const char *split,
                     const struct ar_eval_result *r, bool improved)
{
    if (r->perplexity >= 1) /* causal LM (NaN otherwise): loss per completion token */
        cli_job_log(job, "step %d %s: loss %.4f  perplexity %.4g%s", step, split, r->loss,
                    r->perplexity, improved ? "  (best)" : "");
    else
        cli_job_log(job, "step %d %s: loss %.4f  accuracy %.4f  f1 %.4f  mcc %.4f%s", step,
                    split, r->loss, r->accuracy, r->macro_f1, r->mcc, improved ? "  (best)" : "");
}

static enum ar_status on_event(void *user, struct ar_trainer *t, const struct ar_train_event *ev)
{
    struct cli_job *job = user;
    const struct ar_train_state *s = ev->state;
    enum ar_status st = AR_STATUS_OK;
    switch (ev->kind) {
    case AR_TRAIN_EVENT_START:
        cli_job_log(job, "training: %d steps, %d examples, batch %d x %d, lr %g (%s)",
                    s->total_steps, job->stage_examples ? job->stage_examples : job->train->count,
                    job->cfg->params.batch_size,
                    job->cfg->params.grad_accum, job->cfg->params.lr,
                    ar_lr_schedule_name(job->cfg->params.schedule));
        if (!job->ui->resume) /* a resumed stream already has its ranks up to here */
            st = write_ranks(job, job->step_offset, true, false);
        break;
    case AR_TRAIN_EVENT_STEP: {
        /* a retraining stage continues the search's step numbering (train_stages.c) */
        int64_t step = job->step_offset + s->step;
        struct ar_metrics_step m = {step,          s->epoch_frac,    ev->loss,
                                    s->lr,         ev->grad_norm,    ev->tokens_per_s,
                                    job->elapsed_offset + ev->elapsed_s};
        st = ar_metrics_write_step(job->metrics, &m);
        if (st == AR_STATUS_OK)
            st = write_ranks(job, step, true, false);
        job->ranks_step = (int)step;
        tb_scalar(job, "train/loss", step, ev->loss);
        tb_scalar(job, "train/lr", step, s->lr);
        tb_scalar(job, "train/grad_norm", step, ev->grad_norm);
        tb_scalar(job, "train/tokens_per_s", step, ev->tokens_per_s);
        if (job->tb)
            ar_tb_flush(job->tb);
        job->last_loss = ev->loss, job->tokens_per_s = ev->tokens_per_s;
        if (!job->ui->tty || job->ui->quiet) {
            char eta[32];
            duration(ev->eta_s, eta, sizeof eta);
            cli_job_log(job, "step %d/%d  loss %.4f  lr %.3g  grad_norm %.3g  %.0f tok/s  eta %s",
                        s->step, s->total_steps, ev->loss, s->lr, ev->grad_norm,
                        ev->tokens_per_s, eta);
        }
        break;
    }
    case AR_TRAIN_EVENT_EVAL: {
        const struct ar_eval_result *r = ev->eval;
        int64_t step = job->step_offset + s->step;
        struct ar_metrics_eval e = {step, ev->split, r->loss, r->accuracy, r->macro_f1, r->mcc};
        e.perplexity = r->perplexity;
        st = ar_metrics_write_eval(job->metrics, &e);
        cli_job_tb_eval(job, step, ev->split, r);
        log_eval(job, (int)step, ev->split, r, ev->improved);
        break;
    }
    case AR_TRAIN_EVENT_END:
        job->final_step = job->step_offset + s->step;
        job->elapsed = job->elapsed_offset + ev->elapsed_s;
        /* the final ranks; a record only when the last step event did not just write one */
        st = write_ranks(job, job->final_step, job->ranks_step != job->final_step, true);
        break;
    }
    if (st != AR_STATUS_OK)
        return ar_trainer_fail(t, st, "metrics: %s", ar_metrics_writer_errmsg(job->metrics));
    return AR_STATUS_OK;
}

/* The live progress line (terminal only): redrawn after every optimizer step. */
static enum ar_status progress(void *user, struct ar_trainer *t, const struct ar_train_state *s)
{
    (void)t;
    struct cli_job *job = user;
    static struct timespec start;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (s->step == 1)
        start = now;
    double el = (double)(now.tv_sec - start.tv_sec) + 1e-9 * (double)(now.tv_nsec - start.tv_nsec);
    double eta = s->step > 1 ? el / (s->step - 1) * (s->total_steps - s->step) : NAN;
    char eta_s[32];
    duration(eta, eta_s, sizeof eta_s);
    fprintf(stderr, "\r\033[Kstep %d/%d  loss %.4f  lr %.3g  %.0f tok/s  ETA %s", s->step,
            s->total_steps, job->last_loss, s->lr, job->tokens_per_s, eta_s);
    fflush(stderr);
    job->line_open = true;
    return AR_STATUS_OK;
}

int cli_job_train(struct cli_job *job)
{
    struct ar_train_params p = job->cfg->params;
    p.pad_id = job->pad_id;
    p.stop = job->stop;
    struct ar_train_hooks hooks = {.user = job, .on_event = on_event};
    if (job->ui->tty && !job->ui->quiet)
        hooks.after_step = progress;
    int rc = cli_job_search_stage(job, &hooks); /* AutoLoRA, Flexora: search, then a fresh LoRA */
    if (rc)
        return rc;
    enum ar_status st = ar_trainer_new(job->ctx, job->model, &p, job->train, job->val,
                                       &job->trainer);
    if (st != AR_STATUS_OK)
        return cli_report(job->ctx, st, "train");
    st = ar_method_attach(job->method, job->trainer); /* the method's hooks run first */
    if (st != AR_STATUS_OK)
        return cli_report(job->ctx, st, "attaching the rank method");
    ar_trainer_add_hooks(job->trainer, &hooks);
    if ((rc = cli_job_checkpoints(job)))
        return rc;
    st = ar_trainer_run(job->trainer);
    if (st == AR_STATUS_INTERRUPTED)
        cli_job_checkpoint_stop(job);
    if (st == AR_STATUS_OK && (rc = cli_job_dylora_sweep(job)))
        return rc;
    if (st == AR_STATUS_OK && job->test) {
        st = ar_evaluate(job->ctx, job->model, job->test, p.eval_batch_size, p.pad_id,
                         &job->test_result, NULL);
        if (st == AR_STATUS_OK) {
            const struct ar_eval_result *r = &job->test_result;
            struct ar_metrics_eval e = {job->final_step, "test", r->loss, r->accuracy,
                                        r->macro_f1,     r->mcc};
            e.perplexity = r->perplexity;
            if (ar_metrics_write_eval(job->metrics, &e) != AR_STATUS_OK)
                cli_job_log(job, "adarank-cl: warning: %s",
                            ar_metrics_writer_errmsg(job->metrics));
            cli_job_tb_eval(job, job->final_step, "test", r);
            log_eval(job, (int)job->final_step, "test", r, false);
        }
    }
    if (st != AR_STATUS_OK) {
        snprintf(job->end_message, sizeof job->end_message, "%s", ar_ctx_errmsg(job->ctx));
        if (job->line_open)
            cli_job_log(job, "%s", "");
        if (st == AR_STATUS_INTERRUPTED) {
            fprintf(stderr, "adarank-cl: train: %s; saving what there is\n",
                    ar_ctx_errmsg(job->ctx));
            return CLI_EXIT_INTERRUPTED;
        }
        return cli_report(job->ctx, st, "train");
    }
    return CLI_EXIT_OK;
}

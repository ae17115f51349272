/* `adarank-cl train`: what a run leaves besides metrics.jsonl — the PEFT adapter, heatmap.png
 * (also as a TensorBoard image) and the summary. Written after training, also when it was
 * interrupted: the adapter then holds the parameters of the last completed step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train_job.h"

#include "adarank/peft.h"
#if defined(ADARANK_WITH_CAIRO)
#include "adarank/render.h"
#endif

/* The task head, saved whole (PEFT's modules_to_save): every arena slice named "classifier.*"
 * or "score.*". */
static enum ar_status head_tensors(struct cli_job *job, struct ar_peft_tensor *t, int cap,
                                   int *n)
{
    struct ar_arena *arena = ar_model_arena(job->model);
    int hidden = ar_model_config(job->model)->hidden_size;
    *n = 0;
    for (size_t i = 0; i < ar_arena_layout_count(arena->layout) && *n < cap; i++) {
        const struct ar_arena_slice *s = ar_arena_layout_slice(arena->layout, i);
        if (strncmp(s->name, "classifier.", 11) && strncmp(s->name, "score.", 6))
            continue; /* "score.weight": the decoders' classification head */
        float *data = malloc(s->count * sizeof *data);
        if (!data)
            return AR_STATUS_OUT_OF_MEMORY;
        enum ar_status st = ar_mem_read(job->ctx, ar_arena_view(s, arena->param), data, s->count);
        if (st != AR_STATUS_OK) {
            free(data);
            return st;
        }
        bool bias = strlen(s->name) > 5 && !strcmp(s->name + strlen(s->name) - 5, ".bias");
        t[*n] = (struct ar_peft_tensor){.name = s->name, .ndim = bias ? 1 : 2, .data = data};
        t[*n].shape[0] = bias ? (int64_t)s->count : (int64_t)s->count / hidden;
        t[*n].shape[1] = hidden;
        (*n)++;
    }
    return AR_STATUS_OK;
}

/* The method's final factors as plain LoRA, written as RUN_DIR/adapter/. */
static int export_adapter(struct cli_job *job)
{
    int n = ar_model_module_count(job->model);
    struct ar_peft_module *mods = calloc((size_t)(n > 0 ? n : 1), sizeof *mods);
    struct ar_peft_tensor head[8] = {0};
    int n_head = 0;
    enum ar_status st = mods ? ar_method_finish(job->method) : AR_STATUS_OUT_OF_MEMORY;
    for (int i = 0; st == AR_STATUS_OK && i < n; i++) {
        const struct ar_model_module *m = ar_model_module(job->model, i);
        float *a = malloc((size_t)m->rank * m->in * sizeof *a);
        float *b = malloc((size_t)m->out * m->rank * sizeof *b);
        int rank = 0;
        float scale = 0;
        st = a && b ? ar_method_export_module(job->method, i, a, b, &rank, &scale)
                    : AR_STATUS_OUT_OF_MEMORY;
        mods[i] = (struct ar_peft_module){m->name, rank, m->in, m->out, scale, a, b};
    }
    if (st == AR_STATUS_OK)
        st = head_tensors(job, head, 8, &n_head);
    char dir[4096], err[1024] = "";
    snprintf(dir, sizeof dir, "%s/adapter", job->cfg->out);
    if (st == AR_STATUS_OK) {
        struct ar_peft_adapter ad = {0};
        ad.base_model = job->cfg->model;
        ad.task_type = cli_task_peft_name(job->task);
        /* GPT-2's Conv1D stores (in, out): PEFT wants fan_in_fan_out for it (it would set it
         * itself, with a warning) */
        ad.fan_in_fan_out = ar_model_config(job->model)->arch == AR_ARCH_GPT2;
        ad.use_rslora = job->cfg->rslora;
        ad.modules = mods, ad.n_modules = n;
        ad.tensors = head, ad.n_tensors = n_head;
        ad.full_target_names = true; /* "output.dense" would also match attention.output.dense */
        ad.method = job->cfg->method;
        ad.state_json = job->state_json; /* AutoLoRA / Flexora: the search's ranks */
        st = ar_peft_export(dir, &ad, err, sizeof err);
        if (st != AR_STATUS_OK)
            fprintf(stderr, "adarank-cl: train: exporting the adapter: %s\n", err);
    } else {
        cli_report(job->ctx, st, "exporting the adapter");
    }
    for (int i = 0; mods && i < n; i++)
        free((void *)mods[i].a), free((void *)mods[i].b);
    for (int i = 0; i < n_head; i++)
        free((void *)head[i].data);
    free(mods);
    if (st != AR_STATUS_OK)
        return cli_exit_for_status(st);
    cli_job_log(job, "adapter: %s", dir);
    return CLI_EXIT_OK;
}

static void tb_image(struct cli_job *job, const char *png, int w, int h)
{
    FILE *f = job->tb ? fopen(png, "rb") : NULL;
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *data = size > 0 ? malloc((size_t)size) : NULL;
    if (data && fread(data, 1, (size_t)size, f) == (size_t)size)
        ar_tb_add_image(job->tb, "ranks/heatmap", job->final_step, data, (size_t)size, w, h, 4);
    free(data);
    fclose(f);
}

static void write_heatmap(struct cli_job *job)
{
#if defined(ADARANK_WITH_CAIRO)
    char metrics[4096], png[4096], err[1024];
    snprintf(metrics, sizeof metrics, "%s/%s", job->cfg->out, AR_METRICS_FILE);
    snprintf(png, sizeof png, "%s/heatmap.png", job->cfg->out);
    struct ar_metrics_run run = {0};
    int w = 0, h = 0;
    enum ar_status st = ar_metrics_read_file(metrics, &run, err, sizeof err);
    if (st == AR_STATUS_OK) {
        ar_render_default_size(AR_RENDER_RANKS, &w, &h);
        st = ar_render_png(png, w, h, &run, AR_RENDER_RANKS, NULL, err, sizeof err);
    }
    ar_metrics_run_clear(&run);
    if (st != AR_STATUS_OK)
        cli_job_log(job, "adarank-cl: warning: no heatmap: %s", err);
    else
        tb_image(job, png, w, h);
#else
    cli_job_log(job, "adarank-cl: warning: built without cairo: no heatmap.png");
#endif
}

static void json_number(const char *key, double v, bool comma)
{
    if (isfinite(v))
        printf("\"%s\": %.6g%s", key, v, comma ? ", " : "");
    else
        printf("\"%s\": null%s", key, comma ? ", " : "");
}

static void json_eval(const char *key, const struct ar_eval_result *r)
{
    if (!r || r->count == 0) {
        printf("  \"%s\": null", key);
        return;
    }
    printf("  \"%s\": {\"count\": %d, ", key, r->count);
    json_number("loss", r->loss, true);
    json_number("accuracy", r->accuracy, true);
    json_number("f1", r->macro_f1, true);
    if (r->perplexity >= 1) /* causal LM (NaN otherwise) */
        json_number("perplexity", r->perplexity, true);
    json_number("mcc", r->mcc, false);
    printf("}");
}

int cli_job_outputs(struct cli_job *job)
{
    int rc = job->trainer ? export_adapter(job) : CLI_EXIT_OK;
    write_heatmap(job);
    if (!job->trainer)
        return rc;
    int best_step = -1;
    struct ar_eval_result best_r = *ar_trainer_best_eval(job->trainer, &best_step);
    if (best_step >= 0) /* after a search stage, steps continue its numbering */
        best_step += (int)job->step_offset;
    struct ar_eval_result last_r = *ar_trainer_last_eval(job->trainer);
    if (job->task == AR_TASK_CAUSAL_LM) /* also for results a resumed run read back */
        best_r.perplexity = exp(best_r.loss), last_r.perplexity = exp(last_r.loss);
    const struct ar_eval_result *best = &best_r, *last = &last_r;
    if (best->count && job->task == AR_TASK_CAUSAL_LM)
        cli_job_log(job, "validation: best perplexity %.4g (loss %.4f) at step %d; run folder %s",
                    best->perplexity, best->loss, best_step, job->cfg->out);
    else if (best->count)
        cli_job_log(job, "validation: best accuracy %.4f at step %d; run folder %s",
                    best->accuracy, best_step, job->cfg->out);
    if (job->ui->json) {
        printf("{\n  \"run\": \"");
        for (const char *c = job->cfg->out; *c; c++) /* a path: escape what JSON requires */
            printf((unsigned char)*c < 0x20 ? "\\u%04x" : *c == '"' || *c == '\\' ? "\\%c" : "%c",
                   *c);
        printf("\",\n  \"steps\": %lld,\n  \"elapsed_s\": %.3f,\n", (long long)job->final_step,
               job->elapsed);
        json_eval("validation", last);
        printf(",\n  \"best_step\": %d,\n", best_step);
        json_eval("best_validation", best);
        printf(",\n");
        json_eval("test", job->test ? &job->test_result : NULL);
        printf("\n}\n");
    }
    return rc;
}

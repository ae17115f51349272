/* `adarank-cl train --init-adapter DIR`: a run that starts from an exported PEFT LoRA adapter
 * (RUN_DIR/adapter of an earlier run, or any PEFT LoRA adapter of this base) instead of a fresh
 * one, and then trains as usual with the chosen method.
 *
 * The keys the user did not give come from the adapter, so that the model is the adapter's:
 * targets (its modules), rank (its largest module rank; a larger --rank allocates more, a
 * smaller one is raised), alpha and rslora (the engine's one scale equals the adapter's α/r, so
 * modules of rank r load bit for bit), and the class names of the run that wrote it
 * (DIR/../config.json), so the head's class ids mean the same classes. The effective config.json
 * records the values used, which is what `resume` reads back.
 *
 * Plain LoRA, whose gates never train, gets each module's PEFT scale ratio in its gates and so
 * continues exactly as PEFT would; methods that train gates start them at 1 with the ratio in B. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train_job.h"

/* The class names of the run that exported the adapter, when DIR/../config.json has them. */
static void labels_of_run(struct cli_job *job)
{
    struct ar_train_config *c = job->cfg;
    char path[PATH_MAX + 32], err[512];
    snprintf(path, sizeof path, "%s/../config.json", c->init_adapter);
    struct ar_train_config run;
    ar_train_config_init(&run);
    if (ar_train_config_load(&run, path, err, sizeof err) == AR_STATUS_OK && run.labels &&
        ar_train_config_set_labels(c, (const char *const *)run.labels, run.label_count) ==
            AR_STATUS_OK)
        cli_job_log(job, "init_adapter: the class names of %s (%d)", path, run.label_count);
    ar_train_config_clear(&run);
}

/* The head's classes against the run's (`classes`: from --labels, the adapter's run or the
 * data): a head for other classes cannot continue. */
static int check_labels(struct cli_job *job, int classes)
{
    const struct ar_peft_adapter *a = job->init_adapter;
    const struct ar_peft_tensor *head = ar_peft_adapter_tensor(a, "classifier.weight");
    if (!head)
        head = ar_peft_adapter_tensor(a, "classifier.out_proj.weight");
    if (!head) /* GPT2/LlamaForSequenceClassification */
        head = ar_peft_adapter_tensor(a, "score.weight");
    if (!head || head->ndim != 2 || classes <= 0 || head->shape[0] == classes)
        return CLI_EXIT_OK; /* ar_model_load_adapter checks the rest */
    fprintf(stderr, "adarank-cl: train: init_adapter: %s: the adapter's head has %lld classes, "
                    "this run %d: it was trained for another label set (give --labels in the "
                    "adapter's class order)\n",
            job->cfg->init_adapter, (long long)head->shape[0], classes);
    return CLI_EXIT_BAD_INPUT;
}

int cli_job_adapter_prepare(struct cli_job *job)
{
    struct ar_train_config *c = job->cfg;
    if (!c->init_adapter)
        return CLI_EXIT_OK;
    char err[4096], abs[PATH_MAX];
    enum ar_status st = ar_peft_adapter_read(c->init_adapter, &job->init_adapter, err, sizeof err);
    if (st != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl: train: init_adapter: %s\n", err);
        return cli_exit_for_status(st);
    }
    /* config.json must name the same folder to `resume`, wherever it runs from */
    if (realpath(c->init_adapter, abs) &&
        ar_train_config_set(c, "init_adapter", abs, err, sizeof err) != AR_STATUS_OK)
        return CLI_EXIT_FAILURE;
    const struct ar_peft_adapter *a = job->init_adapter;
    int r_max = ar_peft_adapter_max_rank(a);
    if (ar_train_config_given(c, "rank") && c->rank < r_max)
        cli_job_log(job, "init_adapter: rank %d is below the adapter's largest rank %d: using %d",
                    c->rank, r_max, r_max);
    if (!ar_train_config_given(c, "rank") || c->rank < r_max)
        c->rank = r_max;
    char targets[256];
    if (!ar_train_config_given(c, "targets")) {
        if (ar_peft_adapter_targets(a, targets, sizeof targets) != AR_STATUS_OK) {
            fprintf(stderr, "adarank-cl: train: init_adapter: %s: its module names do not fit "
                            "a target list; give --targets\n",
                    c->init_adapter);
            return CLI_EXIT_BAD_INPUT;
        }
        if (ar_train_config_set(c, "targets", targets, err, sizeof err) != AR_STATUS_OK)
            return CLI_EXIT_FAILURE;
    }
    if (!ar_train_config_given(c, "rslora"))
        c->rslora = a->use_rslora;
    if (!ar_train_config_given(c, "alpha")) { /* α/R = the adapter's lora_alpha / r */
        double ratio = (double)c->rank / (double)(a->r > 0 ? a->r : r_max);
        c->alpha = a->lora_alpha * (c->rslora ? sqrt(ratio) : ratio);
    }
    if (!c->labels)
        labels_of_run(job);
    if (c->labels && check_labels(job, c->label_count)) /* before anything loads */
        return CLI_EXIT_BAD_INPUT;
    cli_job_log(job, "init_adapter %s: %d modules, rank %d, alpha %g%s, targets %s",
                c->init_adapter, a->n_modules, c->rank, c->alpha, c->rslora ? " (rsLoRA)" : "",
                c->targets);
    return CLI_EXIT_OK;
}

int cli_job_adapter_load(struct cli_job *job)
{
    if (!job->init_adapter)
        return CLI_EXIT_OK;
    int rc = check_labels(job, job->train ? job->train->num_labels : 0);
    if (rc)
        return rc;
    enum ar_method_kind kind = AR_METHOD_LORA;
    ar_method_kind_parse(job->cfg->method, &kind);
    unsigned flags = kind == AR_METHOD_LORA ? AR_PEFT_LOAD_SCALE_IN_GATES : 0;
    enum ar_status st = ar_model_load_adapter(job->model, job->init_adapter, flags);
    if (st != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl: train: init_adapter %s: %s\n", job->cfg->init_adapter,
                ar_ctx_errmsg(job->ctx));
        return cli_exit_for_status(st);
    }
    cli_job_log(job, "started from the adapter in %s", job->cfg->init_adapter);
    return CLI_EXIT_OK;
}

/* `adarank-cl resume RUN_DIR`: continues a train run that was stopped (SIGINT/SIGTERM) or killed
 * (kill -9, a crash, a power cut) from the newest good checkpoint in its run folder, and the
 * checkpoints `train` writes on the way (checkpoint.h has the file and its guarantees).
 *
 * The run is rebuilt from RUN_DIR/config.json, the effective configuration `train` wrote (its
 * paths are absolute), by the same job code as `train` (train_job.c); the checkpoint restores the
 * trainer's position, the arena (parameters and Adam's moments) and the method's state, so the
 * loss trajectory continues as if the run had never stopped. metrics.jsonl is first cut back to
 * the checkpoint's step, then a run_start with "resumed": true is appended. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "train_job.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1; /* SA_RESETHAND: a second Ctrl-C ends the process at once */
}

/* AutoLoRA and Flexora run a search and then a retraining on a fresh model (train_stages.c): a
 * checkpoint of either stage alone cannot rebuild the other, so they have none yet. */
static bool two_stage(const struct ar_train_config *c)
{
    return c->method && (!strcmp(c->method, "autolora") || !strcmp(c->method, "flexora"));
}

/* ---- the job's checkpoint hooks (declared in train_job.h) ------------------------------------ */

static void save(struct cli_job *job, const char *why)
{
    char path[4200];
    enum ar_status st = ar_checkpoint_save(job->trainer, job->method, job->cfg->out, path,
                                           sizeof path);
    if (st != AR_STATUS_OK) /* the run goes on; only its resumability suffers */
        cli_job_log(job, "adarank-cl: warning: no checkpoint: %s", ar_ctx_errmsg(job->ctx));
    else if (why)
        cli_job_log(job, "checkpoint %s (%s; continue with `adarank-cl resume %s`)", path, why,
                    job->cfg->out);
}

/* Every checkpoint_every steps, after the step's records. Not at the last step, nor after an
 * early stop: the run ends right after, and what it writes then (the final evaluation, the test,
 * run_end) has the same step, which would make the cut of metrics.jsonl ambiguous. */
static enum ar_status step_end(void *user, struct ar_trainer *t, const struct ar_train_state *s)
{
    struct cli_job *job = user;
    int every = job->cfg->checkpoint_every;
    if (every > 0 && s->step % every == 0 && s->step < s->total_steps &&
        !ar_trainer_early_stopped(t))
        save(job, NULL);
    return AR_STATUS_OK;
}

int cli_job_checkpoints(struct cli_job *job)
{
    if (two_stage(job->cfg))
        return CLI_EXIT_OK;
    struct ar_train_hooks hooks = {.user = job, .step_end = step_end};
    enum ar_status st = ar_trainer_add_hooks(job->trainer, &hooks);
    if (st == AR_STATUS_OK && job->ui->resume)
        st = ar_checkpoint_load(job->trainer, job->method, job->resume_path);
    if (st != AR_STATUS_OK)
        return cli_report(job->ctx, st, "resume");
    if (job->ui->resume)
        cli_job_log(job, "resumed from %s at step %d of %d", job->resume_path, job->resume_step,
                    ar_trainer_total_steps(job->trainer));
    return CLI_EXIT_OK;
}

void cli_job_checkpoint_stop(struct cli_job *job)
{
    if (!two_stage(job->cfg))
        save(job, "interrupted");
}

int cli_job_resume_prepare(struct cli_job *job)
{
    const char *dir = job->cfg->out;
    char notes[8192], path[4200], err[4096];
    int step = 0;
    enum ar_status st = ar_checkpoint_find(dir, &step, job->resume_path,
                                           sizeof job->resume_path, notes, sizeof notes);
    if (notes[0])
        fprintf(stderr, "adarank-cl: resume: %s", notes);
    if (st != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl: resume: %s: no good checkpoint to resume from\n", dir);
        return CLI_EXIT_BAD_INPUT;
    }
    job->resume_step = step;
    int last_ranks = -1;
    snprintf(path, sizeof path, "%s/%s", dir, AR_METRICS_FILE);
    st = ar_checkpoint_trim_metrics(path, step, &last_ranks, err, sizeof err);
    if (st != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl: resume: %s\n", err);
        return cli_exit_for_status(st);
    }
    job->ranks_step = last_ranks;
    return CLI_EXIT_OK;
}

void cli_config_absolute_paths(struct ar_train_config *c)
{
    char **paths[] = {&c->model, &c->train, &c->validation, &c->test, &c->out};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char *abs = *paths[i] && (*paths[i])[0] != '/' ? realpath(*paths[i], NULL) : NULL;
        if (abs) { /* a path that does not exist stays as given: its error names it so */
            free(*paths[i]);
            *paths[i] = abs;
        }
    }
}

/* ---- the command ----------------------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: adarank-cl resume RUN_DIR [--quiet] [--json]\n\n"
            "Continues the train run in RUN_DIR from its newest good checkpoint\n"
            "(checkpoint-<step>.arck, written every checkpoint_every steps and on SIGINT/SIGTERM;\n"
            "a damaged newest file falls back to the previous one), with the configuration in\n"
            "RUN_DIR/config.json, and writes the same outputs as train.\n\n"
            "  --quiet              plain log lines instead of a progress line\n"
            "  --json               print a JSON summary on stdout at the end\n\n"
            "Exit codes: 0 done, 2 usage, 3 bad input (no run folder, no good checkpoint),\n"
            "4 device, 5 interrupted.\n");
}

/* RUN_DIR/config.json with RUN_DIR as the output folder; checked like train's. */
static int load_config(const char *dir, struct ar_train_config *cfg)
{
    char path[4200], err[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "adarank-cl: resume: %s: not a run folder of adarank-cl train (no "
                        "config.json)\n", dir);
        return CLI_EXIT_BAD_INPUT;
    }
    enum ar_status st = ar_train_config_load(cfg, path, err, sizeof err);
    if (st == AR_STATUS_OK)
        st = ar_train_config_set(cfg, "out", dir, err, sizeof err);
    if (st == AR_STATUS_OK)
        st = ar_train_config_check(cfg, err, sizeof err);
    if (st != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl: resume: %s\n", err);
        return CLI_EXIT_BAD_INPUT;
    }
    if (two_stage(cfg)) {
        fprintf(stderr, "adarank-cl: resume: %s: method %s runs two stages (search, then "
                        "retraining), which cannot be resumed yet\n", dir, cfg->method);
        return CLI_EXIT_BAD_INPUT;
    }
    return CLI_EXIT_OK;
}

int cli_resume(int argc, char **argv)
{
    struct cli_train_ui ui = {.tty = isatty(STDERR_FILENO) == 1, .resume = true};
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        if (!strcmp(argv[i], "--quiet")) {
            ui.quiet = true;
        } else if (!strcmp(argv[i], "--json")) {
            ui.json = true;
        } else if (argv[i][0] == '-' || dir) {
            fprintf(stderr, "adarank-cl: resume: unexpected argument \"%s\" (see --help)\n",
                    argv[i]);
            return CLI_EXIT_USAGE;
        } else {
            dir = argv[i];
        }
    }
    if (!dir) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    struct ar_train_config cfg;
    ar_train_config_init(&cfg);
    int rc = load_config(dir, &cfg);
    int step;
    char path[4200], notes[8192];
    if (!rc && ar_checkpoint_find(dir, &step, path, sizeof path, notes, sizeof notes) !=
                   AR_STATUS_OK) { /* before the data and the model are loaded */
        fprintf(stderr, "adarank-cl: resume: %s%s: no good checkpoint (checkpoint-<step>.arck) "
                        "to resume from\n", notes, dir);
        rc = CLI_EXIT_BAD_INPUT;
    }
    if (!rc) {
        struct sigaction sa = {0};
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESETHAND;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        rc = cli_train_job(&cfg, &ui, &stop_requested);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
    }
    ar_train_config_clear(&cfg);
    return rc;
}

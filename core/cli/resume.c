/* `adarank-cl resume RUN_DIR`: continues a train run that was stopped (SIGINT/SIGTERM) or killed
 * (kill -9, a crash, a power cut) from the newest good checkpoint in its run folder, and the
 * checkpoints `train` writes on the way (checkpoint.h has the file and its guarantees).
 *
 * The run is rebuilt from RUN_DIR/config.json, the effective configuration `train` wrote (its
 * paths are absolute), by the same job code as `train` (train_job.c); the checkpoint restores the
 * trainer's position, the arena (parameters and Adam's moments) and the method's state, so the
 * loss trajectory continues as if the run had never stopped. metrics.jsonl is first cut back to
 * the checkpoint's step, then a run_start with "resumed": true is appended.
 *
 * AutoLoRA and Flexora run two trainers one after the other (train_stages.c): the search, whose
 * checkpoints go to RUN_DIR/search-checkpoints/, then a retraining of a fresh model, whose
 * checkpoints go to RUN_DIR itself (both named by the stage's own step). When the retraining
 * starts, RUN_DIR/stage.json records the search's result (the ranks, the steps) and only then
 * are the search's checkpoints deleted, so at every moment one of the two says where to go on:
 *   no stage.json      the search, from its newest checkpoint, then the retraining;
 *   stage.json         the retraining at the recorded ranks, from its newest checkpoint, or from
 *                      its start when it wrote none yet (killed between the stages). */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "train_job.h"

static bool two_stage(const struct ar_train_config *c)
{
    return c->method && (!strcmp(c->method, "autolora") || !strcmp(c->method, "flexora"));
}

/* Where the checkpoints of the job's current stage go. */
static void checkpoint_dir(const struct cli_job *job, char *dir, size_t size)
{
    snprintf(dir, size, job->stage == 1 ? "%s/" CLI_SEARCH_DIR : "%s", job->cfg->out);
}

/* ---- the job's checkpoint hooks (declared in train_job.h) ------------------------------------ */

/* The trainer at hand continues a checkpoint (not a stage that starts fresh). */
static bool resumed(const struct cli_job *job)
{
    return job->ui->resume && job->resume_path[0];
}

static void save(struct cli_job *job, const char *why)
{
    char path[4200], dir[4200];
    checkpoint_dir(job, dir, sizeof dir);
    enum ar_status st = ar_checkpoint_save(job->trainer, job->method, dir, path, sizeof path);
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

/* The retraining's START event, after its first records (hooks run in the order added): the
 * search's result becomes durable, then the search's checkpoints go. A kill before the record
 * resumes the search (its tail runs again, to the same result); after it, the retraining, whose
 * START records metrics.jsonl already holds. Checkpoints of an earlier try of the retraining
 * (a record that could not be written) are stale and go first. */
static enum ar_status stage_started(void *user, struct ar_trainer *t,
                                    const struct ar_train_event *ev)
{
    (void)t;
    struct cli_job *job = user;
    if (ev->kind != AR_TRAIN_EVENT_START)
        return AR_STATUS_OK;
    ar_checkpoint_remove_all(job->cfg->out);
    struct cli_stage_record r = {2,
                                 job->search_steps,
                                 job->step_offset,
                                 job->elapsed_offset,
                                 job->search_ranks,
                                 ar_model_module_count(job->model)};
    char err[4400];
    if (cli_stage_write(job->cfg->out, job->cfg->method, &r, err, sizeof err))
        cli_stage_remove_search(job->cfg->out);
    else /* the run goes on; a resume repeats the end of the search */
        cli_job_log(job, "adarank-cl: warning: no stage record: %s", err);
    return AR_STATUS_OK;
}

int cli_job_checkpoints(struct cli_job *job)
{
    char dir[4200];
    checkpoint_dir(job, dir, sizeof dir);
    if (job->stage == 1 && mkdir(dir, 0777) != 0 && errno != EEXIST)
        cli_job_log(job, "adarank-cl: warning: %s: cannot create: %s", dir, strerror(errno));
    struct ar_train_hooks hooks = {.user = job, .step_end = step_end};
    if (job->stage == 2 && !resumed(job))
        hooks.on_event = stage_started;
    enum ar_status st = ar_trainer_add_hooks(job->trainer, &hooks);
    if (st == AR_STATUS_OK && resumed(job))
        st = ar_checkpoint_load(job->trainer, job->method, job->resume_path);
    if (st != AR_STATUS_OK)
        return cli_report(job->ctx, st, "resume");
    if (resumed(job))
        cli_job_log(job, "resumed from %s at step %d of %d%s", job->resume_path, job->resume_step,
                    ar_trainer_total_steps(job->trainer),
                    job->stage == 1   ? " of the search"
                    : job->stage == 2 ? " of the retraining"
                                      : "");
    return CLI_EXIT_OK;
}

void cli_job_checkpoint_stop(struct cli_job *job)
{
    save(job, "interrupted");
}

/* ---- where a run continues ------------------------------------------------------------------- */

/* The stage (two-stage methods), the checkpoint and its step in its stage; path "" for a
 * retraining that wrote no checkpoint yet. Messages on stderr; notes of skipped damaged files
 * only when `verbose` (the check before the job is silent when it finds a checkpoint). */
static int find_resume_point(const struct ar_train_config *cfg, bool verbose,
                             struct cli_stage_record *rec, int *step, char *path, size_t path_size)
{
    const char *dir = cfg->out;
    char ckdir[4200], notes[8192], err[6000];
    snprintf(ckdir, sizeof ckdir, "%s", dir);
    *rec = (struct cli_stage_record){0};
    if (two_stage(cfg)) {
        enum ar_status st = cli_stage_read(dir, rec, err, sizeof err);
        if (st != AR_STATUS_OK && st != AR_STATUS_NOT_FOUND) {
            fprintf(stderr, "adarank-cl: resume: %s\n", err);
            return cli_exit_for_status(st);
        }
        if (st == AR_STATUS_NOT_FOUND)
            snprintf(ckdir, sizeof ckdir, "%s/" CLI_SEARCH_DIR, dir);
    }
    *step = 0;
    enum ar_status st = ar_checkpoint_find(ckdir, step, path, path_size, notes, sizeof notes);
    if (notes[0] && (verbose || (st != AR_STATUS_OK && rec->stage != 2)))
        fprintf(stderr, "adarank-cl: resume: %s", notes);
    if (st != AR_STATUS_OK && rec->stage == 2) { /* the retraining starts over */
        *step = 0, path[0] = '\0';
        return CLI_EXIT_OK;
    }
    if (st != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl: resume: %s: no good checkpoint (checkpoint-<step>.arck) to "
                        "resume from\n", ckdir);
        return CLI_EXIT_BAD_INPUT;
    }
    return CLI_EXIT_OK;
}

/* The retraining's inputs from the stage record, checked against the model. */
static int adopt_stage(struct cli_job *job, struct cli_stage_record *rec)
{
    int n = ar_model_module_count(job->model);
    if (rec->n_ranks != n) {
        fprintf(stderr, "adarank-cl: resume: %s/" CLI_STAGE_FILE ": %d ranks for %d adapted "
                        "modules\n", job->cfg->out, rec->n_ranks, n);
        free(rec->ranks);
        return CLI_EXIT_BAD_INPUT;
    }
    free(job->search_ranks);
    job->search_ranks = rec->ranks;
    job->search_steps = rec->search_steps;
    job->step_offset = rec->step_offset;
    job->elapsed_offset = rec->elapsed_offset;
    job->stage = 2;
    return CLI_EXIT_OK;
}

int cli_job_resume_prepare(struct cli_job *job)
{
    struct cli_stage_record rec;
    int step = 0;
    int rc = find_resume_point(job->cfg, true, &rec, &step, job->resume_path,
                               sizeof job->resume_path);
    if (!rc && rec.stage == 2)
        rc = adopt_stage(job, &rec);
    else if (!rc && two_stage(job->cfg))
        job->stage = 1;
    if (rc)
        return rc;
    job->resume_step = step;
    if (job->stage == 2 && !job->resume_path[0])
        cli_job_log(job, "resuming at the start of the retraining (step %lld; the search's ranks "
                         "are in %s/" CLI_STAGE_FILE ")", (long long)job->step_offset, job->cfg->out);
    /* metrics.jsonl numbers a retraining's steps after the search's */
    int last_ranks = -1;
    char path[4200], err[4096];
    snprintf(path, sizeof path, "%s/%s", job->cfg->out, AR_METRICS_FILE);
    enum ar_status st = ar_checkpoint_trim_metrics(path, (int)job->step_offset + step,
                                                   &last_ranks, err, sizeof err);
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
            "RUN_DIR/config.json, and writes the same outputs as train. AutoLoRA and Flexora\n"
            "runs continue in the stage they were in: the search (its checkpoints are in\n"
            "RUN_DIR/search-checkpoints/), or the retraining at the ranks in RUN_DIR/stage.json.\n\n"
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
    struct cli_stage_record rec;
    int step;
    char path[4200];
    if (!rc) { /* before the data and the model are loaded */
        rc = find_resume_point(&cfg, false, &rec, &step, path, sizeof path);
        free(rec.ranks);
    }
    if (!rc)
        rc = cli_train_job_interruptible(&cfg, &ui);
    ar_train_config_clear(&cfg);
    return rc;
}

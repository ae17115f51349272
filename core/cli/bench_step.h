/* `adarank-cl bench step`, shared between bench_step.c (options, adarank-cl's step),
 * bench_step_report.c (the PyTorch reference as a child process, the report) and
 * bench_step_profile.c (--profile). */
#ifndef ADARANK_CLI_BENCH_STEP_H
#define ADARANK_CLI_BENCH_STEP_H

#include <stdbool.h>
#include <stddef.h>

#include "cli.h"

struct step_options {
    const char *model, *targets, *device, *script, *python;
    int batch, seq, rank, steps, warmup, threads, rounds;
    bool quick, json, no_torch, profile;
};

struct step_result {
    struct ar_model_config cfg;
    double step_s;     /* median of the timed steps */
    double phase_s[3]; /* medians of forward (with zeroing the gradients), backward, optimizer */
    double cpu_s;      /* median CPU time of the process per step (all threads) */
    float loss_first, loss_last;
    int labels, modules;
    size_t trainable_floats;        /* the arena's parameter count (padded) */
    size_t base_bytes, arena_bytes; /* frozen base; arena: parameters, gradients, m, v, mask */
    size_t device_now, device_peak; /* ar_ctx_device_bytes after the steps */
    long rss_kb;                    /* peak resident set of this process */
    double load[6];                 /* 1/5/15-minute load averages at the start and at the end */
    double profiled_step_s;         /* --profile: the profiled step's wall time */
    /* Against PyTorch (0 without it): medians over the rounds of each round's ratio of
     * adarank-cl's median step to PyTorch's, in wall time and in CPU time. */
    double ratio, cpu_ratio;
};

struct torch_result {
    bool ok;
    char reason[512]; /* why not, when !ok */
    char impl[128], version[32], python[256];
    double step_s, cpu_s; /* cpu_s: 0 when the script did not report it */
    long rss_kb, trainable, frozen;
    int threads;
    double loss_first;
};

/* /proc/loadavg's three figures (NaN where unavailable). */
void step_loadavg(double out[3]);
/* Runs the PyTorch reference unless --no-torch; never fails, *out says what happened. */
void step_run_torch(const struct step_options *o, int labels, struct torch_result *out);
/* One training step as bench step times it (bench_step.c): phase times in t, the loss. */
enum ar_status step_run_one(struct ar_ctx *ctx, struct ar_model *model,
                            const struct ar_batch *batch, int step, double t[3], float *loss);
/* --profile (bench_step_profile.c): one more step with the context's profiler on, then the
 * table of its operations (valid until the context is freed or profiled again). */
enum ar_status step_profile_run(struct ar_ctx *ctx, struct ar_model *model,
                                const struct ar_batch *batch, int step, struct step_result *r);
void step_profile_print(struct ar_ctx *ctx, const struct step_result *r);
void step_print(const struct step_options *o, struct ar_ctx *ctx, const struct step_result *r,
                const struct torch_result *t);

#endif

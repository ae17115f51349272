/* The adarank-cl command line: shared declarations of the subcommands. */
#ifndef ADARANK_CLI_H
#define ADARANK_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "adarank/adarank.h"

/* Exit codes, documented in README.md; scripts may rely on them. */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILURE = 1,     /* an internal error or a failed check (e.g. a benchmark target) */
    CLI_EXIT_USAGE = 2,       /* bad command line */
    CLI_EXIT_BAD_INPUT = 3,   /* a file or value the user gave is malformed or inconsistent */
    CLI_EXIT_DEVICE = 4,      /* OpenCL, CLBlast or device memory failure */
    CLI_EXIT_INTERRUPTED = 5, /* stopped by SIGINT/SIGTERM after saving what could be saved */
};

/* Maps a library status to the exit code that names its class. */
int cli_exit_for_status(enum ar_status status);

/* Prints "adarank-cl: <what>: <ctx message>" and returns the matching exit code. */
int cli_report(struct ar_ctx *ctx, enum ar_status status, const char *what);

/* Opens a context on the device named by --device (NULL: $ADARANK_DEVICE / default).
 * On failure prints the reason and returns NULL with *exit_code set. */
struct ar_ctx *cli_open_context(const char *device, int *exit_code);
/* The same with every context parameter given (e.g. apply_tuning off). */
struct ar_ctx *cli_open_context_with(const struct ar_ctx_params *params, int *exit_code);

/* A context on the listed device `dev` (selected by its index), reading extra CLBlast tables
 * from tuning_dir (NULL: the default folder). As ar_ctx_new: *out is set even on failure, for
 * ar_ctx_errmsg; free it with ar_ctx_free either way. */
enum ar_status cli_ctx_on_device(const struct ar_device_info *dev, const char *tuning_dir,
                                 struct ar_ctx **out);

/* Prints s as a JSON string literal: quotes, with '"', '\\' and control characters escaped. */
void cli_json_string(const char *s);

/* Subcommands: argv[0] is the subcommand's name. */
int cli_devices(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_tune(int argc, char **argv);
int cli_train(int argc, char **argv);
int cli_resume(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_export(int argc, char **argv);
int cli_heatmap(int argc, char **argv); /* with cairo only */

/* `bench` sub-benchmarks, dispatched from bench.c (argv[0] is the benchmark's name). */
int cli_bench_gemm(int argc, char **argv);
int cli_bench_lora(int argc, char **argv);
int cli_bench_step(int argc, char **argv);

#endif

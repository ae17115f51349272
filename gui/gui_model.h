/* The data logic of the GTK app, in plain C (no GLib, no widgets) so it is unit-tested on its
 * own (tests/test_gui_model.c): the `adarank-cl train` command line a launch form stands for,
 * the summary numbers of a run, the hover text of a heatmap cell and where the CLI lives.
 *
 * The charts themselves, their decimation and colour maps are render.h's; the event stream is
 * metrics.h's reader. The widgets (ar-*.c) only glue these to GTK.
 */
#ifndef ADARANK_GUI_MODEL_H
#define ADARANK_GUI_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adarank/metrics.h"

/* ---- launching a run ---------------------------------------------------------------------- */

/* The rank methods the launch form offers, in menu order ("lora", "sora", ...). */
extern const char *const ar_gui_methods[];
extern const int ar_gui_n_methods;
/* What the menu shows for a method ("SoRA"); the name itself when unknown. */
const char *ar_gui_method_label(const char *method);

/* A launch form. Strings may be NULL or "" (then the CLI default applies, except for the three
 * required paths); numbers ≤ 0 mean "the CLI default". */
struct ar_gui_launch {
    const char *model_dir, *train_file, *out_dir; /* required */
    const char *validation_file;
    const char *method, *targets, *device;
    int rank, epochs, batch, max_length, max_steps, eval_every;
    double alpha, lr;
    const char *extra; /* more options as typed ("--warmup-ratio 0.1 --seed 7"), may be quoted */
};

/* Builds the argument vector of `CLI train ...` (NULL-terminated, malloc'd; free it with
 * ar_gui_argv_free). Returns NULL and a message in err when a required path is missing or
 * `extra` has an unbalanced quote. --quiet is added: the GUI reads metrics.jsonl, not the
 * progress line. */
char **ar_gui_launch_argv(const struct ar_gui_launch *l, const char *cli, char *err,
                          size_t err_size);
void ar_gui_argv_free(char **argv); /* NULL is fine */

/* Splits a typed option string on blanks; "..." and '...' group (no escapes). Returns the count,
 * or -1 for an unbalanced quote. Writes at most cap pointers into argv, each malloc'd. */
int ar_gui_split_args(const char *s, char **argv, int cap);

/* ---- the summary of a run ----------------------------------------------------------------- */

struct ar_gui_summary {
    int64_t step;                                  /* the largest step seen */
    double epoch, loss, lr, tokens_per_s, elapsed; /* the latest values, NaN when none */
    int64_t trainable, trainable_allocated; /* LoRA parameters r·(in+out) summed over modules,
                                               at the effective and the allocated ranks */
    long ranks_kept, ranks_allocated;       /* Σ effective, Σ allocated (latest snapshot) */
    double eval_metric;    /* the latest validation accuracy (else perplexity, else loss), NaN */
    const char *eval_name; /* "accuracy", "perplexity", "loss" or NULL */
    const char *status;    /* "running" or run_end's status */
};

void ar_gui_summary_compute(const struct ar_metrics_run *run, struct ar_gui_summary *s);

/* The rank of module `row` shown in the latest snapshot (final_ranks after run_end); the
 * allocated rank in *allocated; -1 when no snapshot has been read. */
int ar_gui_module_rank(const struct ar_metrics_run *run, int row, int *allocated);

/* "1.23 M", "37.9 k", "512" */
void ar_gui_format_count(double v, char *out, size_t size);
/* "45 s", "3 min 12 s", "2 h 05 min"; "–" for NaN */
void ar_gui_format_duration(double seconds, char *out, size_t size);

/* The tooltip of heatmap cell (row, step): module name, step of the snapshot shown, effective
 * / allocated rank and sparsity. Returns false when the row is out of range. */
bool ar_gui_heat_tooltip(const struct ar_metrics_run *run, int row, double step, char *out,
                         size_t size);

/* ---- finding the CLI ---------------------------------------------------------------------- */

/* The places `adarank-cl` is looked for, in order, given the folder of the running app:
 * $ADARANK_CLI (env, when set), the build tree (exe_dir/../core/cli/adarank-cl), the install
 * (exe_dir/adarank-cl). The caller then falls back to PATH. Writes up to cap malloc'd paths;
 * returns the count. */
int ar_gui_cli_candidates(const char *env_cli, const char *exe_dir, char **out, int cap);

#endif

/* What the adarank-cl tests written in C share (test_cli_train.c, test_cli_resume.c): a scratch
 * folder that goes away on every way out, the tiny BERT fixture as a model folder, small data
 * files, and adarank-cl runs with their output captured.
 *
 * No CHECK in here (test.h's counters are per file): the functions return what happened and the
 * tests check it. */
#ifndef ADARANK_TEST_CLI_SPAWN_H
#define ADARANK_TEST_CLI_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

extern char cli_tmp[256];     /* the scratch folder, after cli_spawn_init */
extern char cli_model[384];   /* the tiny BERT's model folder in it */
extern char cli_output[65536]; /* stdout and stderr of the last command cli_finish waited for */

/* The test's set-up: the adarank-cl binary from argv[1] (meson passes it) or $ADARANK_CLI, the
 * tests/ folder from $ADARANK_TEST_DATA, the scratch folder $TMPDIR/adarank-test-<name>-XXXXXX
 * (TMPDIR defaults to /tmp) and in it the model folder cli_tmp/model (cli_write_model_dir).
 * The scratch folder is test.h's test_tmpdir: removed at exit and on a timeout's SIGTERM or a
 * crash, after the running adarank-cl is killed; ADARANK_KEEP_TMP=1 keeps it for debugging.
 * Returns false, with a message, on a usage error or when the folders cannot be made. */
bool cli_spawn_init(int argc, char **argv, const char *name);

/* Starts adarank-cl with args (NULL-terminated, without argv[0]); stdout and stderr go to
 * cli_tmp/output.txt. */
pid_t cli_start(const char *const *args);
/* Waits for pid; cli_output gets its output. Returns the exit code, or 128 + the signal. */
int cli_finish(pid_t pid);
/* cli_start, then cli_finish. */
int cli_run(const char *const *args);

/* Waits until run_dir/metrics.jsonl has a step record of `step` or later; false when pid ended
 * first (its status is left for cli_finish) or after `seconds`. */
bool cli_wait_for_step(pid_t pid, const char *run_dir, int step, int seconds);

/* path gets text; false when it cannot be written. */
bool cli_write_text(const char *path, const char *text);
/* The whole file, malloc'd and NUL-terminated (size may be NULL); NULL when unreadable. */
char *cli_read_all(const char *path, size_t *size);

/* dir becomes a model folder: links to tests/fixtures/bert_tiny's config and weights (fixtures
 * is ADARANK_TEST_DATA) and a WordPiece tokenizer.json of the fixture's 97 entries: specials,
 * a few words, the letters and their ## continuations, so every lowercase ASCII word tokenizes. */
bool cli_write_model_dir(const char *dir, const char *fixtures);

/* A labelled TSV of `rows` short reviews, 3 classes (the fixture's head): row i is review
 * (i + shift) % period of a fixed list of 7 (period 6 or 7). */
bool cli_write_data(const char *path, int rows, int shift, int period);

#endif

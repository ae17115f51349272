/* ArTrainer: an `adarank-cl train` child process.
 *
 * Training runs in its own process, so a crash or an OpenCL driver fault there can never take
 * the window down, and the GUI follows it exactly like any other run: through the
 * metrics.jsonl it writes (ArRunSource). Pause is SIGSTOP/SIGCONT; stop is SIGINT, on which the
 * CLI finishes its micro-batch, writes run_end and the adapter, and exits with code 5.
 *
 * The CLI is looked for in $ADARANK_CLI, next to this executable in the build tree
 * (gui/../core/cli/adarank-cl), next to it when installed (bindir/adarank-cl), then on PATH. */
#ifndef AR_TRAINER_H
#define AR_TRAINER_H

#include <gio/gio.h>

G_BEGIN_DECLS

#define AR_TYPE_TRAINER (ar_trainer_get_type())
G_DECLARE_FINAL_TYPE(ArTrainer, ar_trainer, AR, TRAINER, GObject)

typedef enum {
    AR_TRAINER_IDLE,
    AR_TRAINER_RUNNING,
    AR_TRAINER_PAUSED,
    AR_TRAINER_STOPPING,
    AR_TRAINER_EXITED,
} ArTrainerState;

ArTrainer *ar_trainer_new(void);
/* The adarank-cl to run (see above); a newly allocated path or NULL when none is found. */
char *ar_trainer_find_cli(void);
/* Spawns argv (argv[0] the CLI); its stderr is kept for the exit message. */
gboolean ar_trainer_start(ArTrainer *self, const char *const *argv, GError **error);
void ar_trainer_pause(ArTrainer *self);  /* SIGSTOP */
void ar_trainer_resume(ArTrainer *self); /* SIGCONT */
void ar_trainer_stop(ArTrainer *self);   /* SIGINT (and SIGCONT when paused) */
ArTrainerState ar_trainer_get_state(ArTrainer *self);
/* After ::exited: the exit code (-1 for a signal) and the last stderr line, if any. */
int ar_trainer_get_exit_code(ArTrainer *self);
const char *ar_trainer_get_message(ArTrainer *self);

G_END_DECLS

#endif

/* SIGINT/SIGTERM around a train job, for `train` and `resume` alike: the first signal only sets
 * the flag the trainer checks between optimizer steps, so the run stops on a whole step and
 * writes its checkpoint, metrics and adapter (exit 5); SA_RESETHAND makes a second Ctrl-C end
 * the process at once, for a user who does not want to wait for that. */
#include <signal.h>

#include "train_job.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

int cli_train_job_interruptible(struct ar_train_config *cfg, const struct cli_train_ui *ui)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    stop_requested = 0;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int rc = cli_train_job(cfg, ui, &stop_requested);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    return rc;
}

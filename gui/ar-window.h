/* ArWindow: the main window — a header bar with the view switcher, the five views of a run
 * (ranks heatmap, gate sparsity, Flexora layers, loss curves, summary) in a stack, and the run
 * controls (new run, attach, pause/resume, stop, export).
 *
 * A window follows one run folder at a time (ArRunSource). A run started from the window is an
 * `adarank-cl train` child (ArTrainer); the window follows the folder it writes, exactly as it
 * follows a folder a headless CLI writes. */
#ifndef AR_WINDOW_H
#define AR_WINDOW_H

#include <gtk/gtk.h>

#include "adarank/render.h"
#include "ar-chart-view.h"
#include "ar-trainer.h"

G_BEGIN_DECLS

#define AR_TYPE_WINDOW (ar_window_get_type())
G_DECLARE_FINAL_TYPE(ArWindow, ar_window, AR, WINDOW, GtkApplicationWindow)

ArWindow *ar_window_new(GtkApplication *app);
/* Follows run_dir (it and its metrics.jsonl may not exist yet); NULL: follows nothing. */
void ar_window_attach(ArWindow *self, const char *run_dir);
/* Shows a page: "ranks", "sparsity", "flexora", "loss" or "summary". False when unknown. */
gboolean ar_window_show_page(ArWindow *self, const char *name);
/* The chart of a view (not AR_RENDER_ALL), for export and the test hooks. */
ArChartView *ar_window_get_chart(ArWindow *self, enum ar_render_view view);
/* Starts `adarank-cl train` (argv[0] the CLI) and follows run_dir, where it writes. The CLI
 * makes run_dir itself once it has loaded; when it exits before (bad config, data or model),
 * the window follows nothing and its banner shows the CLI's message. */
gboolean ar_window_start_training(ArWindow *self, const char *const *argv, const char *run_dir,
                                  GError **error);
/* The training child of this window (idle when none was started). */
ArTrainer *ar_window_get_trainer(ArWindow *self);
/* The run followed now, or NULL. */
ArRunSource *ar_window_get_source(ArWindow *self);
/* The text of the message banner while it is shown, else NULL (for the test hooks). */
const char *ar_window_get_banner(ArWindow *self);

G_END_DECLS

#endif

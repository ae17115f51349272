/* Export from the window: a view as PNG (ar_render_png, the renderer `adarank-cl heatmap` uses,
 * at the CLI's default size) and the run's PEFT adapter (RUN_DIR/adapter/, written by
 * `adarank-cl train`) copied to a folder of the user's choice. Both ask for the destination
 * with a native file chooser and report through `done` (a message for the banner). */
#ifndef AR_EXPORT_H
#define AR_EXPORT_H

#include <gtk/gtk.h>

#include "adarank/render.h"
#include "ar-run-source.h"

G_BEGIN_DECLS

typedef void (*ArExportDone)(const char *message, gpointer data);

void ar_export_png(GtkWindow *parent, ArRunSource *source, enum ar_render_view view,
                   ArExportDone done, gpointer data);
void ar_export_adapter(GtkWindow *parent, ArRunSource *source, ArExportDone done, gpointer data);

/* The copy itself (no dialog): every regular file of run_dir/adapter into dest (created).
 * Returns the number of files copied, or -1 with error set. */
int ar_export_copy_adapter(const char *run_dir, const char *dest, GError **error);

G_END_DECLS

#endif

/* ArApp: the GtkApplication of adarank-gui — command-line options, app-wide actions (quit,
 * dark style, about), keyboard shortcuts, the style sheet, and one ArWindow.
 *
 *   adarank-gui [--attach RUN_DIR] [--page ranks|sparsity|flexora|loss|summary] [--dark]
 *               [--size WxH]   and the test hooks of ArProbe (--screenshot PNG,
 *               --quit-after-draw, --quit-at-step N, --trace, --timeout S) */
#ifndef AR_APP_H
#define AR_APP_H

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define AR_TYPE_APP (ar_app_get_type())
G_DECLARE_FINAL_TYPE(ArApp, ar_app, AR, APP, GtkApplication)

ArApp *ar_app_new(void);
/* The exit status main() returns: g_application_run's, or 1 after a failed test hook. */
int ar_app_get_exit_code(ArApp *self);

G_END_DECLS

#endif

/* ArLaunchDialog: the "New run" form.
 *
 * Model folder, data files, method (LoRA, SoRA, AutoLoRA, DyLoRA, Flexora, AdaLoRA), the main
 * hyperparameters (defaults from ar_train_config_init, the CLI's own), target modules, the
 * OpenCL device (ar_device_list: the list `adarank-cl devices` prints) and a free field for
 * any other `train` option. Start emits ::launch with the argv of `adarank-cl train`
 * (ar_gui_launch_argv) and the run folder; the window then follows that folder. */
#ifndef AR_LAUNCH_DIALOG_H
#define AR_LAUNCH_DIALOG_H

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define AR_TYPE_LAUNCH_DIALOG (ar_launch_dialog_get_type())
G_DECLARE_FINAL_TYPE(ArLaunchDialog, ar_launch_dialog, AR, LAUNCH_DIALOG, GtkWindow)

/* cli: the adarank-cl path argv[0] will be (see ar_trainer_find_cli). */
GtkWidget *ar_launch_dialog_new(GtkWindow *parent, const char *cli);

G_END_DECLS

#endif

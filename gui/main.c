/* adarank-gui: the GTK 4 app that starts fine-tunes and follows their ranks live (ar-app.h). */
#include "ar-app.h"

int main(int argc, char **argv)
{
    ArApp *app = ar_app_new();
    int status = g_application_run(G_APPLICATION(app), argc, argv);
    if (status == 0) status = ar_app_get_exit_code(app);
    g_object_unref(app);
    return status;
}

/* `adarank-cl heatmap RUN_DIR`: the charts of a run (finished or still training) as a PNG, drawn
 * from RUN_DIR/metrics.jsonl by the same code the GTK app uses (render.h). No device needed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "adarank/render.h"
#include "cli.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: adarank-cl heatmap RUN_DIR|METRICS.jsonl [-o OUT.png] [--view VIEW]\n"
            "                          [--size WxH] [--colormap viridis|magma]\n\n"
            "Draws the charts of a run from its metrics.jsonl (which may still be growing).\n"
            "  --view ranks     modules x steps heatmap of the effective rank (default)\n"
            "         sparsity  gate sparsity per layer and overall, with the threshold schedule\n"
            "         flexora   Flexora layer scores and the selected layers\n"
            "         loss      training loss, learning rate and evaluation metrics\n"
            "         all       the four in one image\n"
            "  -o OUT.png       output file (default RUN_DIR/VIEW.png); written atomically\n"
            "  --size WxH       image size in pixels (default 1200x800 for ranks, 2000x1300 "
            "for all)\n");
}

struct heatmap_args {
    const char *input, *output, *colormap;
    enum ar_render_view view;
    int width, height;
};

static int parse_args(int argc, char **argv, struct heatmap_args *a)
{
    *a = (struct heatmap_args){.view = AR_RENDER_RANKS};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(arg, "-o") || !strcmp(arg, "--output")) {
            if (!val) goto missing;
            a->output = val, i++;
        } else if (!strcmp(arg, "--view")) {
            if (!val || !ar_render_view_parse(val, &a->view)) {
                fprintf(stderr, "adarank-cl heatmap: --view takes ranks, sparsity, flexora, "
                                "loss or all\n");
                return CLI_EXIT_USAGE;
            }
            i++;
        } else if (!strcmp(arg, "--size")) {
            if (!val || sscanf(val, "%dx%d", &a->width, &a->height) != 2 || a->width < 16 ||
                a->height < 16 || a->width > 32768 || a->height > 32768) {
                fprintf(stderr, "adarank-cl heatmap: --size takes WxH, 16..32768 each\n");
                return CLI_EXIT_USAGE;
            }
            i++;
        } else if (!strcmp(arg, "--colormap")) {
            if (!val || (strcmp(val, "viridis") && strcmp(val, "magma"))) {
                fprintf(stderr, "adarank-cl heatmap: --colormap takes viridis or magma\n");
                return CLI_EXIT_USAGE;
            }
            a->colormap = val, i++;
        } else if (arg[0] == '-' || a->input) {
            fprintf(stderr, "adarank-cl heatmap: unexpected argument \"%s\" (try --help)\n", arg);
            return CLI_EXIT_USAGE;
        } else {
            a->input = arg;
        }
    }
    if (!a->input) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
missing:
    fprintf(stderr, "adarank-cl heatmap: %s needs a value\n", argv[argc - 1]);
    return CLI_EXIT_USAGE;
}

int cli_heatmap(int argc, char **argv)
{
    struct heatmap_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != CLI_EXIT_OK) return rc < 0 ? CLI_EXIT_OK : rc;
    struct stat sb;
    bool is_dir = stat(a.input, &sb) == 0 && S_ISDIR(sb.st_mode);
    char metrics[4096], output[4096];
    if (is_dir)
        snprintf(metrics, sizeof metrics, "%s/%s", a.input, AR_METRICS_FILE);
    else
        snprintf(metrics, sizeof metrics, "%s", a.input);
    if (a.output)
        snprintf(output, sizeof output, "%s", a.output);
    else
        snprintf(output, sizeof output, "%s/%s.png", is_dir ? a.input : ".",
                 ar_render_view_name(a.view));
    char err[1024];
    struct ar_metrics_run run;
    enum ar_status st = ar_metrics_read_file(metrics, &run, err, sizeof err);
    if (st != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl heatmap: %s\n", err);
        return cli_exit_for_status(st);
    }
    if (a.width == 0) ar_render_default_size(a.view, &a.width, &a.height);
    struct ar_render_opts opts = ar_render_default_opts();
    if (a.colormap && !strcmp(a.colormap, "magma")) opts.colormap = AR_COLORMAP_MAGMA;
    st = ar_render_png(output, a.width, a.height, &run, a.view, &opts, err, sizeof err);
    if (st != AR_STATUS_OK) {
        fprintf(stderr, "adarank-cl heatmap: %s\n", err);
    } else {
        printf("%s: %s view, %d x %d, %d modules, %zu rank snapshots, step %lld%s\n", output,
               ar_render_view_name(a.view), a.width, a.height, run.n_modules, run.n_snapshots,
               (long long)run.last_step, run.ended ? "" : " (run still going)");
    }
    ar_metrics_run_clear(&run);
    return cli_exit_for_status(st);
}

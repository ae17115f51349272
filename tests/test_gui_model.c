/* The GUI's plain-C data logic (gui/gui_model.h) and the heatmap hit-test it relies on
 * (render.h: ar_render_heat_hit, ar_render_snapshot_at), without GTK or a display.
 *
 * The recorded run tests/fixtures/run_sora (24 SoRA modules, 200 steps, 41 rank snapshots) is
 * the input wherever a real run is needed; its numbers are checked against the fixture itself
 * (final_ranks of its run_end line), not against constants copied from a run. */
#include "test.h"

#include "adarank/render.h"
#include "gui_model.h"

static void test_argv(void)
{
    struct ar_gui_launch l = {.model_dir = "/m",
                              .train_file = "/d/train.tsv",
                              .out_dir = "/r",
                              .method = "sora",
                              .targets = "query,value",
                              .device = "0",
                              .rank = 8,
                              .alpha = 16,
                              .lr = 5e-4,
                              .epochs = 2,
                              .extra = "--seed 7 --labels \"neg, pos\""};
    char err[256] = "";
    char **argv = ar_gui_launch_argv(&l, "/bin/adarank-cl", err, sizeof err);
    CHECK(argv != NULL, "%s", err);
    if (!argv) return;
    const char *want[] = {"/bin/adarank-cl",
                          "train",
                          "--model",
                          "/m",
                          "--train",
                          "/d/train.tsv",
                          "--out",
                          "/r",
                          "--method",
                          "sora",
                          "--targets",
                          "query,value",
                          "--device",
                          "0",
                          "--rank",
                          "8",
                          "--alpha",
                          "16",
                          "--lr",
                          "0.0005",
                          "--epochs",
                          "2",
                          "--quiet",
                          "--seed",
                          "7",
                          "--labels",
                          "neg, pos",
                          NULL};
    int i = 0;
    for (; want[i] && argv[i]; i++)
        CHECK(!strcmp(argv[i], want[i]), "argv[%d] = \"%s\", want \"%s\"", i, argv[i], want[i]);
    CHECK(!want[i] && !argv[i], "argv length differs at %d", i);
    ar_gui_argv_free(argv);

    /* Unset numbers and strings leave the CLI defaults alone. */
    struct ar_gui_launch bare = {.model_dir = "/m", .train_file = "/t", .out_dir = "/o"};
    argv = ar_gui_launch_argv(&bare, "cli", err, sizeof err);
    int n = 0;
    while (argv && argv[n])
        n++;
    CHECK(n == 9, "bare form: %d arguments, want 9 (cli train 3 paths --quiet)", n);
    ar_gui_argv_free(argv);

    /* Bad input: a clear message, no argv. */
    struct ar_gui_launch missing = {.model_dir = "/m", .out_dir = "/o"};
    CHECK(ar_gui_launch_argv(&missing, "cli", err, sizeof err) == NULL, "missing train file");
    CHECK(strstr(err, "training data") != NULL, "message: %s", err);
    struct ar_gui_launch quote = bare;
    quote.extra = "--labels \"a,b";
    CHECK(ar_gui_launch_argv(&quote, "cli", err, sizeof err) == NULL, "unbalanced quote");
    CHECK(strstr(err, "quote") != NULL, "message: %s", err);
}

static void test_split(void)
{
    char *v[8];
    int n = ar_gui_split_args("  a 'b c'  d\"e f\"g ", v, 8);
    CHECK(n == 3, "count %d", n);
    if (n == 3) {
        CHECK(!strcmp(v[0], "a") && !strcmp(v[1], "b c") && !strcmp(v[2], "de fg"),
              "got [%s] [%s] [%s]", v[0], v[1], v[2]);
        for (int i = 0; i < n; i++)
            free(v[i]);
    }
    CHECK(ar_gui_split_args("", v, 8) == 0, "empty string");
    CHECK(ar_gui_split_args(NULL, v, 8) == 0, "NULL string");
    CHECK(ar_gui_split_args("x 'y", v, 8) == -1, "unbalanced quote");
}

static void test_format(void)
{
    char s[64];
    ar_gui_format_count(1234567, s, sizeof s);
    CHECK(!strcmp(s, "1.23 M"), "%s", s);
    ar_gui_format_count(37912, s, sizeof s);
    CHECK(!strcmp(s, "37.9 k"), "%s", s);
    ar_gui_format_count(512, s, sizeof s);
    CHECK(!strcmp(s, "512"), "%s", s);
    ar_gui_format_duration(45.2, s, sizeof s);
    CHECK(!strcmp(s, "45 s"), "%s", s);
    ar_gui_format_duration(192, s, sizeof s);
    CHECK(!strcmp(s, "3 min 12 s"), "%s", s);
    ar_gui_format_duration(7500, s, sizeof s);
    CHECK(!strcmp(s, "2 h 05 min"), "%s", s);
    ar_gui_format_duration(NAN, s, sizeof s);
    CHECK(!strcmp(s, "\xE2\x80\x93"), "%s", s);
    CHECK(!strcmp(ar_gui_method_label("adalora"), "AdaLoRA"), "label");
    CHECK(!strcmp(ar_gui_method_label("other"), "other"), "unknown label");
    CHECK(ar_gui_n_methods == 6, "six methods");
}

static void test_cli_candidates(void)
{
    char *c[4];
    int n = ar_gui_cli_candidates("/env/cli", "/b/gui", c, 4);
    CHECK(n == 3, "count %d", n);
    if (n == 3) {
        CHECK(!strcmp(c[0], "/env/cli"), "%s", c[0]);
        CHECK(!strcmp(c[1], "/b/gui/../core/cli/adarank-cl"), "%s", c[1]);
        CHECK(!strcmp(c[2], "/b/gui/adarank-cl"), "%s", c[2]);
    }
    for (int i = 0; i < n; i++)
        free(c[i]);
    n = ar_gui_cli_candidates(NULL, NULL, c, 4);
    CHECK(n == 0, "no env, no exe dir: %d", n);
}

static void test_hit(void)
{
    struct ar_render_heat_layout l = {.plot_x = 100,
                                      .plot_y = 50,
                                      .plot_w = 400,
                                      .plot_h = 240,
                                      .x0 = 0,
                                      .x1 = 200,
                                      .rows = 24,
                                      .cols = 400};
    int row = -7;
    double step = -7;
    CHECK(!ar_render_heat_hit(&l, 99.9, 60, &row, &step), "left of the cells");
    CHECK(!ar_render_heat_hit(&l, 200, 290, &row, &step), "below the cells");
    CHECK(row == -7 && step == -7, "outputs untouched on a miss");
    CHECK(ar_render_heat_hit(&l, 100, 50, &row, &step) && row == 0, "top-left corner");
    CHECK(fabs(step - 0.25) < 1e-12, "first column centre: step %g", step);
    CHECK(ar_render_heat_hit(&l, 499.99, 289.99, &row, &step) && row == 23, "bottom row %d", row);
    CHECK(fabs(step - 199.75) < 1e-12, "last column centre: step %g", step);
    CHECK(ar_render_heat_hit(&l, 300, 50 + 10 * 5 + 1, &row, &step) && row == 5, "row %d", row);
    struct ar_render_heat_layout empty = {0};
    CHECK(!ar_render_heat_hit(&empty, 0, 0, &row, &step), "empty layout");

    int64_t steps[] = {5, 10, 20};
    CHECK(ar_render_snapshot_at(steps, 3, 4.9) == -1, "before the first");
    CHECK(ar_render_snapshot_at(steps, 3, 5) == 0, "at the first");
    CHECK(ar_render_snapshot_at(steps, 3, 19.5) == 1, "between");
    CHECK(ar_render_snapshot_at(steps, 3, 1e9) == 2, "after the last");
    CHECK(ar_render_snapshot_at(steps, 0, 10) == -1, "no snapshots");
}

/* The hit-test and the resampler agree: the snapshot the tooltip names for a column is the one
 * whose value the heatmap painted there. */
static void test_hit_matches_resample(const struct ar_metrics_run *run)
{
    struct ar_render_heat_layout l = {.plot_x = 10,
                                      .plot_y = 0,
                                      .plot_w = 37,
                                      .plot_h = 24,
                                      .x0 = (double)run->snapshot_step[0],
                                      .x1 = (double)run->last_step,
                                      .rows = run->n_modules,
                                      .cols = 37};
    float *cells = malloc(sizeof(float) * (size_t)l.rows * (size_t)l.cols);
    ar_render_heat_resample(run->snapshot_step, run->n_snapshots, run->effective, l.rows, l.x0,
                            l.x1, l.cols, cells);
    int mismatches = 0;
    for (int c = 0; c < l.cols; c++) {
        for (int r = 0; r < l.rows; r++) {
            int row;
            double step;
            if (!ar_render_heat_hit(&l, l.plot_x + c + 0.5, r + 0.5, &row, &step)) {
                mismatches++;
                continue;
            }
            long s = ar_render_snapshot_at(run->snapshot_step, run->n_snapshots, step);
            float want = cells[(size_t)r * l.cols + c];
            float got = s < 0 ? NAN : (float)run->effective[s * run->n_modules + row];
            if (row != r || !(got == want || (isnan(got) && isnan(want)))) mismatches++;
        }
    }
    CHECK(mismatches == 0, "%d cells where the hover value differs from the painted one",
          mismatches);
    free(cells);
}

/* Pixels of (x0, y0)-(x1, y1) where colour c clearly dominates (anti-aliased edges blend with
 * white). */
static int count_colour(cairo_surface_t *s, struct ar_rgb c, int x0, int y0, int x1, int y1)
{
    int n = 0, stride = cairo_image_surface_get_stride(s);
    const unsigned char *d = cairo_image_surface_get_data(s);
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            const unsigned char *p = d + (size_t)y * stride + 4 * (size_t)x; /* B G R A */
            if (abs(p[2] - (int)lround(c.r * 255)) < 24 &&
                abs(p[1] - (int)lround(c.g * 255)) < 24 && abs(p[0] - (int)lround(c.b * 255)) < 24)
                n++;
        }
    return n;
}

/* The Curves page as ArChartView draws it (render.h's loss view at a window's size), read back:
 * in the eval panel, an LM run shows its validation perplexity (palette 2, its loss's colour)
 * and the training curve (palette 0) and no accuracy (palette 1); a classification run shows
 * validation accuracy. Rows 66-90 % of the height lie inside the eval panel, which fills the
 * lower 42 % of the plot area under the header (render_curves.c). */
static void test_curves_page(const struct ar_metrics_run *run, bool lm)
{
    enum { W = 800, H = 500 };
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, W, H);
    cairo_t *cr = cairo_create(img);
    CHECK(ar_render_view(cr, W, H, run, AR_RENDER_LOSS, NULL) == AR_STATUS_OK, "loss view");
    cairo_surface_flush(img);
    CHECK(cairo_status(cr) == CAIRO_STATUS_SUCCESS, "cairo: %s",
          cairo_status_to_string(cairo_status(cr)));
    int y0 = (int)(H * 0.66), y1 = (int)(H * 0.9);
    int train = count_colour(img, ar_render_palette(0), 75, y0, W, y1);
    int acc = count_colour(img, ar_render_palette(1), 75, y0, W, y1);
    int val = count_colour(img, ar_render_palette(2), 75, y0, W, y1);
    if (lm)
        CHECK(train > 20 && val > 10 && acc == 0,
              "LM eval panel: train %d, validation perplexity %d, accuracy %d pixels", train, val,
              acc);
    else
        CHECK(acc > 20 && train == 0, "classification eval panel: accuracy %d, train %d pixels",
              acc, train);
    cairo_destroy(cr);
    cairo_surface_destroy(img);
}

static void test_recorded_run(void)
{
    const char *data = getenv("ADARANK_TEST_DATA");
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/fixtures/run_sora/metrics.jsonl", data ? data : "tests");
    struct ar_metrics_run run = {0};
    enum ar_status st = ar_metrics_read_file(path, &run, err, sizeof err);
    CHECK(st == AR_STATUS_OK, "%s", err);
    if (st != AR_STATUS_OK) return;
    struct ar_gui_summary s;
    ar_gui_summary_compute(&run, &s);
    long kept = 0;
    int64_t trainable = 0, allocated = 0;
    for (int i = 0; i < run.n_modules; i++) {
        kept += run.final_ranks[i];
        trainable += (int64_t)run.final_ranks[i] * (run.modules[i].in + run.modules[i].out);
        allocated += (int64_t)run.modules[i].rank * (run.modules[i].in + run.modules[i].out);
    }
    CHECK(s.step == 200 && s.ranks_kept == kept, "step %lld kept %ld (want %ld)", (long long)s.step,
          s.ranks_kept, kept);
    CHECK(s.ranks_allocated == 24 * 8, "allocated %ld", s.ranks_allocated);
    CHECK(s.trainable == trainable && s.trainable_allocated == allocated, "trainable %lld / %lld",
          (long long)s.trainable, (long long)s.trainable_allocated);
    CHECK(!strcmp(s.status, "completed"), "status %s", s.status);
    CHECK(s.eval_name && !strcmp(s.eval_name, "accuracy") && s.eval_metric > 0.5,
          "validation %s %g", s.eval_name ? s.eval_name : "(none)", s.eval_metric);
    CHECK(!isnan(s.loss) && !isnan(s.tokens_per_s), "latest loss and throughput");

    int alloc;
    CHECK(ar_gui_module_rank(&run, 3, &alloc) == run.final_ranks[3] && alloc == 8, "module 3");
    CHECK(ar_gui_module_rank(&run, 24, &alloc) == -1, "row out of range");

    char tip[512];
    CHECK(ar_gui_heat_tooltip(&run, 0, 200, tip, sizeof tip), "tooltip");
    CHECK(strstr(tip, "bert.encoder.layer.0.attention.self.query") && strstr(tip, "step 200"),
          "tooltip: %s", tip);
    char want[64];
    snprintf(want, sizeof want, "effective rank %d / 8", run.final_ranks[0]);
    CHECK(strstr(tip, want) != NULL, "tooltip \"%s\" lacks \"%s\"", tip, want);
    CHECK(ar_gui_heat_tooltip(&run, 0, 0, tip, sizeof tip) && strstr(tip, "no rank snapshot"),
          "before the first snapshot: %s", tip);
    CHECK(!ar_gui_heat_tooltip(&run, -1, 10, tip, sizeof tip), "bad row");
    test_hit_matches_resample(&run);

    /* A classification run: the Curves page's eval panel shows accuracy / F1 / MCC. */
    CHECK(!ar_render_run_is_lm(&run), "the SoRA classification run is not a language model");
    test_curves_page(&run, false);

    /* A run with no snapshot yet: every allocated rank counts. */
    struct ar_metrics_run fresh = {0};
    char line[] = "{\"event\":\"run_start\",\"schema\":1,\"modules\":[{\"name\":\"a.q\","
                  "\"layer\":0,\"in\":4,\"out\":6,\"rank\":2}],\"layers\":1}";
    CHECK(ar_metrics_run_parse_line(&fresh, line, strlen(line), "t:1", err, sizeof err) ==
              AR_STATUS_OK,
          "%s", err);
    ar_gui_summary_compute(&fresh, &s);
    CHECK(s.trainable == 20 && s.ranks_kept == 2 && !strcmp(s.status, "running"),
          "fresh run: trainable %lld kept %ld", (long long)s.trainable, s.ranks_kept);
    ar_metrics_run_clear(&fresh);
    ar_metrics_run_clear(&run);
}

static void parse_lines(struct ar_metrics_run *run, const char *const *lines, int n)
{
    char err[512];
    for (int i = 0; i < n; i++)
        CHECK(ar_metrics_run_parse_line(run, lines[i], strlen(lines[i]), "lm", err, sizeof err) ==
                  AR_STATUS_OK,
              "line %d: %s", i + 1, err);
}

/* A causal-LM run: its eval records carry "perplexity" and accuracy null (metrics_write.c). The
 * Curves page shows train perplexity (exp of the logged loss) and each split's perplexity in its
 * eval panel. */
static void test_lm_curves(void)
{
    static const char *const lines[] = {
        "{\"event\":\"run_start\",\"schema\":1,\"method\":\"lora\",\"modules\":[{\"name\":"
        "\"h.0.attn.c_attn\",\"layer\":0,\"in\":8,\"out\":24,\"rank\":2}],\"layers\":1}",
        "{\"event\":\"step\",\"step\":1,\"loss\":4.5}",
        "{\"event\":\"step\",\"step\":2,\"loss\":2.25}",
        "{\"event\":\"eval\",\"step\":2,\"split\":\"validation\",\"loss\":3.5,"
        "\"accuracy\":null,\"f1\":null,\"mcc\":null,\"perplexity\":33.125}",
        "{\"event\":\"eval\",\"step\":2,\"split\":\"test\",\"loss\":3.25,\"perplexity\":25.75}",
    };
    struct ar_metrics_run run = {0};
    parse_lines(&run, lines, 3);
    CHECK(!ar_render_run_is_lm(&run), "no evaluation yet, no task in the config: not known as LM");
    parse_lines(&run, lines + 3, 2);
    CHECK(ar_render_run_is_lm(&run), "an eval record with perplexity makes it an LM run");

    test_curves_page(&run, true);

    struct ar_gui_summary s;
    ar_gui_summary_compute(&run, &s);
    CHECK(s.eval_name && !strcmp(s.eval_name, "perplexity") && s.eval_metric == 33.125,
          "summary: validation %s %g", s.eval_name ? s.eval_name : "(none)", s.eval_metric);
    ar_metrics_run_clear(&run);

    /* task "causal-lm" in the config: an LM run before its first evaluation. */
    static const char *const start[] = {
        "{\"event\":\"run_start\",\"schema\":1,\"config\":{\"task\":\"causal-lm\"},"
        "\"modules\":[]}",
        "{\"event\":\"step\",\"step\":1,\"loss\":3}",
    };
    parse_lines(&run, start, 2);
    CHECK(ar_render_run_is_lm(&run), "config task causal-lm");
    ar_metrics_run_clear(&run);
}

int main(void)
{
    test_argv();
    test_split();
    test_format();
    test_cli_candidates();
    test_hit();
    test_recorded_run();
    test_lm_curves();
    return test_finish("gui_model");
}

/* Bad input to the gated LoRA layer and AdamW gives a non-zero status and a message naming the
 * problem; a kernel that fails to build gives AR_STATUS_KERNEL_BUILD with the build log. */
#include <unistd.h>

#include "test.h"

/* The call fails with `want` and the context's message contains `needle`. */
#define CHECK_FAILS(ctx, call, want, needle)                                                       \
    do {                                                                                           \
        enum ar_status st_ = (call);                                                               \
        CHECK(st_ == (want), "%s: got %s, want %s (%s)", #call, ar_status_name(st_),               \
              ar_status_name(want), ar_ctx_errmsg(ctx));                                           \
        CHECK(strstr(ar_ctx_errmsg(ctx), (needle)) != NULL, "message \"%s\" lacks \"%s\"",         \
              ar_ctx_errmsg(ctx), (needle));                                                       \
    } while (0)

static void test_new(struct ar_ctx *ctx)
{
    struct ar_lora_opts opts = {.scale = 1.0f};
    struct ar_lora_layer *l = (struct ar_lora_layer *)&opts; /* must be reset to NULL */
    struct ar_lora_dims neg_rank = {8, 16, 16, -1, 1};
    CHECK_FAILS(ctx, ar_lora_layer_new(ctx, &neg_rank, &opts, &l), AR_STATUS_INVALID_ARGUMENT,
                "rank=-1");
    CHECK(l == NULL, "*out is NULL on failure");
    struct ar_lora_dims zero_n = {0, 16, 16, 4, 1};
    CHECK_FAILS(ctx, ar_lora_layer_new(ctx, &zero_n, &opts, &l), AR_STATUS_INVALID_ARGUMENT, "n=0");
    struct ar_lora_dims neg_groups = {8, 16, 16, 4, -3};
    CHECK_FAILS(ctx, ar_lora_layer_new(ctx, &neg_groups, &opts, &l), AR_STATUS_INVALID_ARGUMENT,
                "groups=-3");
    struct ar_lora_dims ok = {8, 16, 16, 4, 1};
    struct ar_lora_opts drop_all = {.scale = 1.0f, .dropout = 1.0f};
    CHECK_FAILS(ctx, ar_lora_layer_new(ctx, &ok, &drop_all, &l), AR_STATUS_INVALID_ARGUMENT,
                "dropout 1");
    struct ar_lora_opts nan_scale = {.scale = NAN};
    CHECK_FAILS(ctx, ar_lora_layer_new(ctx, &ok, &nan_scale, &l), AR_STATUS_INVALID_ARGUMENT,
                "scale");
    CHECK_FAILS(ctx, ar_lora_layer_new(ctx, &ok, NULL, &l), AR_STATUS_INVALID_ARGUMENT, "opts");
    ar_lora_layer_free(NULL);
}

static void test_forward_backward(struct ar_ctx *ctx)
{
    struct ar_lora_dims dims = {8, 16, 12, 4, 2};
    struct ar_lora_opts opts = {.scale = 2.0f};
    struct ar_lora_layer *l = NULL;
    CHECK_OK(ctx, ar_lora_layer_new(ctx, &dims, &opts, &l));
    if (!l) return;
    struct ar_mem buf = {0}, none = {0};
    CHECK_OK(ctx, ar_mem_alloc(ctx, 4096, &buf));
    CHECK_OK(ctx, ar_mem_fill(ctx, buf, 0.5f, 4096));
    struct ar_mem x = buf, y = ar_mem_at(buf, 1024), dy = ar_mem_at(buf, 2048);
    struct ar_lora_weights w = {.w = ar_mem_at(buf, 3000),
                                .a = ar_mem_at(buf, 3400),
                                .b = ar_mem_at(buf, 3600),
                                .gate = ar_mem_at(buf, 3800)};
    struct ar_lora_grads g = {.dx = ar_mem_at(buf, 200),
                              .da = ar_mem_at(buf, 1500),
                              .db = ar_mem_at(buf, 1700),
                              .dgate = ar_mem_at(buf, 1900)};

    CHECK_FAILS(ctx, ar_lora_backward(l, dy, &w, &g), AR_STATUS_INVALID_ARGUMENT,
                "no successful forward");
    CHECK_FAILS(ctx, ar_lora_forward(l, 9, x, &w, y, true, 1, 1), AR_STATUS_SHAPE_MISMATCH,
                "n=9 rows");
    CHECK_FAILS(ctx, ar_lora_forward(l, 0, x, &w, y, true, 1, 1), AR_STATUS_SHAPE_MISMATCH,
                "dims.n");
    CHECK_FAILS(ctx, ar_lora_forward(l, 4, none, &w, y, true, 1, 1), AR_STATUS_INVALID_ARGUMENT,
                "input X missing");
    CHECK_FAILS(ctx, ar_lora_forward(l, 4, x, &w, none, true, 1, 1), AR_STATUS_INVALID_ARGUMENT,
                "output Y missing");
    struct ar_lora_weights bad = w;
    bad.w = none;
    CHECK_FAILS(ctx, ar_lora_forward(l, 4, x, &bad, y, true, 1, 1), AR_STATUS_INVALID_ARGUMENT,
                "frozen weight W is missing");
    bad = w;
    bad.a = none;
    CHECK_FAILS(ctx, ar_lora_forward(l, 4, x, &bad, y, true, 1, 1), AR_STATUS_INVALID_ARGUMENT,
                "A missing");
    bad = w;
    bad.gate = none;
    CHECK_FAILS(ctx, ar_lora_forward(l, 4, x, &bad, y, true, 1, 1), AR_STATUS_INVALID_ARGUMENT,
                "gate g is missing");
    CHECK_FAILS(ctx, ar_lora_forward(l, 4, x, NULL, y, true, 1, 1), AR_STATUS_INVALID_ARGUMENT,
                "weights are required");

    /* A good forward, then backward with missing pieces. */
    CHECK_OK(ctx, ar_lora_forward(l, 4, x, &w, y, true, 1, 1));
    struct ar_lora_grads badg = g;
    badg.db = none;
    CHECK_FAILS(ctx, ar_lora_backward(l, dy, &w, &badg), AR_STATUS_INVALID_ARGUMENT, "dB missing");
    CHECK_FAILS(ctx, ar_lora_backward(l, none, &w, &g), AR_STATUS_INVALID_ARGUMENT,
                "dY is missing");
    CHECK_FAILS(ctx, ar_lora_backward(l, dy, &w, NULL), AR_STATUS_INVALID_ARGUMENT,
                "grads are required");
    badg = g;
    badg.dgate = none; /* frozen gates are allowed */
    badg.dx = none;    /* and so is an input without gradient */
    CHECK_OK(ctx, ar_lora_backward(l, dy, &w, &badg));
    CHECK_OK(ctx, ar_ctx_finish(ctx));
    CHECK_FAILS(ctx, ar_lora_layer_set_scale(l, INFINITY), AR_STATUS_INVALID_ARGUMENT,
                "not finite");
    ar_lora_layer_free(l);
    ar_mem_release(&buf);
}

static void test_adamw_bad_input(struct ar_ctx *ctx)
{
    struct ar_mem buf = {0}, none = {0};
    CHECK_OK(ctx, ar_mem_alloc(ctx, 64, &buf));
    struct ar_adamw_params hp = ar_adamw_default_params();
    hp.step = 0;
    CHECK_FAILS(ctx, ar_adamw_update(ctx, &hp, 16, buf, buf, buf, buf, none),
                AR_STATUS_INVALID_ARGUMENT, "step 0");
    hp = ar_adamw_default_params();
    hp.beta2 = 1.0f;
    CHECK_FAILS(ctx, ar_adamw_update(ctx, &hp, 16, buf, buf, buf, buf, none),
                AR_STATUS_INVALID_ARGUMENT, "beta2 1");
    hp = ar_adamw_default_params();
    CHECK_FAILS(ctx, ar_adamw_update(ctx, &hp, 16, buf, none, buf, buf, none),
                AR_STATUS_INVALID_ARGUMENT, "a buffer is missing");
    double sum = 0;
    CHECK_FAILS(ctx, ar_sum_squares(ctx, 16, none, &sum), AR_STATUS_INVALID_ARGUMENT, "input x");
    ar_mem_release(&buf);
}

static int write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) return 1;
    fputs(text, f);
    return fclose(f);
}

/* A context whose kernel_dir holds a prelude and broken lora.cl / adamw.cl. */
static void test_kernel_build_failure(void)
{
    const char *dir = test_tmpdir("broken-cl");
    CHECK(dir != NULL, "test_tmpdir");
    if (!dir) return;
    const char *broken = "__kernel void lora_bias_fill(__global float *y)\n"
                         "{\n    adarank_broken_token = 1;\n}\n";
    CHECK(write_file(dir, "prelude.cl", "#define AR_WGS 64\n") == 0 &&
              write_file(dir, "lora.cl", broken) == 0 &&
              write_file(dir, "adamw.cl", "__kernel void adamw_update( {\n") == 0,
          "writing %s", dir);
    struct ar_ctx_params params = ar_ctx_default_params();
    params.kernel_dir = dir;
    struct ar_ctx *ctx = NULL;
    CHECK_OK(ctx, ar_ctx_new(&params, &ctx));

    struct ar_lora_dims dims = {4, 8, 8, 2, 1};
    struct ar_lora_opts opts = {.scale = 1.0f};
    struct ar_lora_layer *l = NULL;
    struct ar_mem buf = {0}, none = {0};
    CHECK_OK(ctx, ar_lora_layer_new(ctx, &dims, &opts, &l));
    CHECK_OK(ctx, ar_mem_alloc(ctx, 1024, &buf));
    if (l && buf.buf) {
        struct ar_lora_weights w = {.w = buf, .bias = buf, .a = buf, .b = buf, .gate = buf};
        CHECK_FAILS(ctx, ar_lora_forward(l, 4, buf, &w, ar_mem_at(buf, 512), true, 1, 1),
                    AR_STATUS_KERNEL_BUILD, "build log");
        CHECK(strstr(ar_ctx_errmsg(ctx), "adarank_broken_token") != NULL,
              "the log names the bad identifier: %s", ar_ctx_errmsg(ctx));
        CHECK(strstr(ar_ctx_errmsg(ctx), "lora.cl") != NULL, "the message names the file");
        struct ar_adamw_params hp = ar_adamw_default_params();
        CHECK_FAILS(ctx, ar_adamw_update(ctx, &hp, 16, buf, buf, buf, buf, none),
                    AR_STATUS_KERNEL_BUILD, "adamw.cl");
    }
    ar_lora_layer_free(l);
    ar_mem_release(&buf);
    ar_ctx_free(ctx);
}

int main(void)
{
    struct ar_ctx *ctx = test_open_ctx();
    test_new(ctx);
    test_forward_backward(ctx);
    test_adamw_bad_input(ctx);
    ar_ctx_free(ctx);
    test_kernel_build_failure();
    return test_finish("lora_errors");
}

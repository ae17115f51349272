/* The flat arena: layout arithmetic, alignment, the decay mask and device regions. */
#include "adarank/arena.h"
#include "test.h"

static void test_layout(void)
{
    struct ar_arena_layout *l = ar_arena_layout_new();
    size_t off_a = 99, off_g = 99, off_h = 99;
    CHECK(ar_arena_layout_add(l, "layer.0.q.lora_A", 37, AR_ARENA_DECAY, &off_a) == AR_STATUS_OK,
          "add A");
    CHECK(ar_arena_layout_add(l, "layer.0.q.gate", 5, 0, &off_g) == AR_STATUS_OK, "add gate");
    CHECK(ar_arena_layout_add(l, "head", 16, AR_ARENA_DECAY, &off_h) == AR_STATUS_OK, "add head");
    CHECK(off_a == 0, "first slice at %zu", off_a);
    CHECK(off_g == 48, "37 floats pad to 48, gate at %zu", off_g);
    CHECK(off_h == 64, "5 floats pad to 16, head at %zu", off_h);
    CHECK(ar_arena_layout_total(l) == 80, "total %zu", ar_arena_layout_total(l));
    CHECK(ar_arena_layout_count(l) == 3, "count %zu", ar_arena_layout_count(l));
    CHECK(ar_arena_layout_add(l, "head", 4, 0, NULL) == AR_STATUS_INVALID_ARGUMENT,
          "duplicate names are refused");
    CHECK(ar_arena_layout_add(l, "empty", 0, 0, NULL) == AR_STATUS_INVALID_ARGUMENT,
          "zero-sized slices are refused");
    CHECK(ar_arena_layout_add(l, "", 3, 0, NULL) == AR_STATUS_INVALID_ARGUMENT,
          "unnamed slices are refused");
    const struct ar_arena_slice *s = ar_arena_layout_find(l, "layer.0.q.gate");
    CHECK(s && s->offset == 48 && s->count == 5 && s->flags == 0, "find gate");
    CHECK(ar_arena_layout_find(l, "nope") == NULL, "find missing");
    CHECK(ar_arena_layout_slice(l, 3) == NULL, "slice out of range");
    for (size_t i = 0; i < ar_arena_layout_count(l); i++)
        CHECK(ar_arena_layout_slice(l, i)->offset % AR_ARENA_ALIGN == 0, "slice %zu aligned", i);
    ar_arena_layout_free(l);
    ar_arena_layout_free(NULL);
}

static void test_device(struct ar_ctx *ctx)
{
    struct ar_arena_layout *l = ar_arena_layout_new();
    ar_arena_layout_add(l, "a", 37, AR_ARENA_DECAY, NULL);
    ar_arena_layout_add(l, "g", 5, 0, NULL);
    struct ar_arena arena;
    CHECK_OK(ctx, ar_arena_new(ctx, l, &arena));
    size_t total = arena.total;
    float *host = malloc(total * sizeof *host);
    CHECK_OK(ctx, ar_mem_read(ctx, arena.decay_mask, host, total));
    int bad = 0;
    for (size_t i = 0; i < total; i++) {
        float want = i < 37 ? 1.0f : 0.0f; /* padding and the gate are not decayed */
        bad += host[i] != want;
    }
    CHECK(bad == 0, "%d decay-mask entries wrong", bad);

    /* Regions are distinct and start at zero; a slice view writes where its offset says. */
    const struct ar_arena_slice *g = ar_arena_layout_find(l, "g");
    float ones[5] = {1, 2, 3, 4, 5};
    CHECK_OK(ctx, ar_mem_write(ctx, ar_arena_view(g, arena.grad), ones, 5));
    CHECK_OK(ctx, ar_mem_read(ctx, arena.grad, host, total));
    CHECK(host[g->offset] == 1 && host[g->offset + 4] == 5 && host[0] == 0, "grad view");
    CHECK_OK(ctx, ar_mem_read(ctx, arena.param, host, total));
    float sum = 0;
    for (size_t i = 0; i < total; i++)
        sum += host[i];
    CHECK(sum == 0, "params start at zero and did not alias the gradients (sum %g)", sum);
    CHECK_OK(ctx, ar_arena_zero_grad(ctx, &arena));
    CHECK_OK(ctx, ar_mem_read(ctx, arena.grad, host, total));
    CHECK(host[g->offset + 4] == 0, "zero_grad");
    free(host);
    ar_arena_free(&arena);

    struct ar_arena_layout *empty = ar_arena_layout_new();
    CHECK(ar_arena_new(ctx, empty, &arena) == AR_STATUS_INVALID_ARGUMENT, "empty layout");
    CHECK(strstr(ar_ctx_errmsg(ctx), "no slices") != NULL, "message: %s", ar_ctx_errmsg(ctx));
    ar_arena_layout_free(empty);
    ar_arena_layout_free(l);
}

int main(void)
{
    test_layout();
    struct ar_ctx *ctx = test_open_ctx();
    test_device(ctx);
    ar_ctx_free(ctx);
    return test_finish("arena");
}

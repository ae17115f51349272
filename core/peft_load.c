/* Loading a PEFT LoRA adapter (read by peft_import.c) into a model's arena (peft.h).
 *
 * The gated kernel computes ΔW = s·B·diag(g ⊙ m)·A with one scale s per model (α/R), while PEFT
 * gives every module its own s_m = α_m / r_m (METHODS.md §0.1). A module of kept rank r_m fills
 * the first r_m of its R components; the ratio s_m / s goes into B (gates 1) or, with
 * AR_PEFT_LOAD_SCALE_IN_GATES, into the gates, so the model computes exactly PEFT's function.
 * Components r_m..R−1 get A = B = 0, g = 0 and m = 0: they are off, and with both factors zero
 * they would get no gradient even if a method switched them on.
 *
 * Everything is validated first (task, module names, shapes, the head), then written, so a
 * mismatched adapter leaves the model as it was. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adarank/peft.h"
#include "model_internal.h"

/* PEFT's task_type for the model's task; NULL when there is no PEFT name to compare. */
static const char *task_name(const struct ar_model *m)
{
    switch (m->opts.task) {
    case AR_TASK_SEQ_CLS:
        return "SEQ_CLS";
    case AR_TASK_CAUSAL_LM:
        return "CAUSAL_LM";
    case AR_TASK_TOKEN_CLS:
        return "TOKEN_CLS";
    default:
        return NULL;
    }
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* Slices of the LoRA factors and gates; every other trainable slice is the task head. */
static bool is_adapter_slice(const char *name)
{
    return ends_with(name, ".lora_A") || ends_with(name, ".lora_B") || ends_with(name, ".gate");
}

/* "(V, C)" for a head weight of `count` floats, "(count)" for a vector. */
static void slice_shape(const struct ar_model *m, const char *name, size_t count, char *out,
                        size_t size)
{
    size_t c = (size_t)m->cfg.hidden_size;
    if (ends_with(name, ".weight") && c && count % c == 0)
        snprintf(out, size, "(%zu, %zu)", count / c, c);
    else
        snprintf(out, size, "(%zu)", count);
}

static void tensor_shape(const struct ar_peft_tensor *t, char *out, size_t size)
{
    if (t->ndim == 2)
        snprintf(out, size, "(%lld, %lld)", (long long)t->shape[0], (long long)t->shape[1]);
    else
        snprintf(out, size, "(%lld)", (long long)t->shape[0]);
}

/* A vector of the slice's length, or a matrix of its size whose rows have the hidden width. */
static bool shapes_equal(const struct ar_model *m, const struct ar_arena_slice *s,
                         const struct ar_peft_tensor *t)
{
    if (t->ndim == 1)
        return t->shape[0] >= 0 && (size_t)t->shape[0] == s->count;
    return t->ndim == 2 && t->shape[0] >= 0 && t->shape[1] == m->cfg.hidden_size &&
           (size_t)t->shape[0] * (size_t)t->shape[1] == s->count;
}

/* Each adapter module's model module (index into the model's table), checked. */
static enum ar_status match_modules(struct ar_model *m, const struct ar_peft_adapter *a,
                                    int *index)
{
    for (int i = 0; i < a->n_modules; i++) {
        const struct ar_peft_module *am = &a->modules[i];
        index[i] = -1;
        if (am->rank == 0)
            continue; /* pruned: not in the adapter's files */
        for (int k = 0; k < m->module_count && index[i] < 0; k++)
            index[i] = !strcmp(m->modules[k].name, am->name) ? k : -1;
        if (index[i] < 0)
            return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                            "adapter module %s: the model has no adapter on it (its "
                            "target_modules are \"%s\")",
                            am->name, m->target_modules);
        const struct ar_model_module *mm = &m->modules[index[i]];
        if (am->rank > mm->rank)
            return ar__fail(m->ctx, AR_STATUS_SHAPE_MISMATCH,
                            "adapter module %s: rank %d is above the model's allocated rank %d",
                            am->name, am->rank, mm->rank);
        if (am->in != mm->in || am->out != mm->out)
            return ar__fail(m->ctx, AR_STATUS_SHAPE_MISMATCH,
                            "adapter module %s: lora_A (%d, %d) and lora_B (%d, %d) do not fit "
                            "the model's (%d, %d) linear (out, in): another base model?",
                            am->name, am->rank, am->in, am->out, am->rank, mm->out, mm->in);
        if (!am->a || !am->b || !(am->scale != 0 && isfinite(am->scale)))
            return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                            "adapter module %s: no factors or a scale of %g", am->name,
                            am->scale);
    }
    return AR_STATUS_OK;
}

/* The head: every non-adapter slice needs an adapter tensor of its shape, and every adapter
 * tensor a slice. */
static enum ar_status match_head(struct ar_model *m, const struct ar_peft_adapter *a)
{
    const struct ar_arena_layout *layout = m->arena.layout;
    for (size_t i = 0; i < ar_arena_layout_count(layout); i++) {
        const struct ar_arena_slice *s = ar_arena_layout_slice(layout, i);
        if (is_adapter_slice(s->name))
            continue;
        const struct ar_peft_tensor *t = ar_peft_adapter_tensor(a, s->name);
        char want[64], got[64];
        slice_shape(m, s->name, s->count, want, sizeof want);
        if (!t)
            return ar__fail(m->ctx, AR_STATUS_BAD_FORMAT,
                            "the adapter has no %s %s (the trained head, saved through "
                            "modules_to_save)",
                            s->name, want);
        tensor_shape(t, got, sizeof got);
        if (!shapes_equal(m, s, t))
            return ar__fail(m->ctx, AR_STATUS_SHAPE_MISMATCH,
                            "adapter tensor %s is %s, the model's is %s (another number of "
                            "classes or another base model?)",
                            s->name, got, want);
    }
    for (int i = 0; i < a->n_tensors; i++) {
        const struct ar_arena_slice *s = ar_arena_layout_find(layout, a->tensors[i].name);
        if (!s || is_adapter_slice(s->name))
            return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                            "adapter tensor %s: the model has no trainable tensor of that name "
                            "(another task or head?)",
                            a->tensors[i].name);
    }
    return AR_STATUS_OK;
}

/* One module's A (R, in), B (out, R), gates and mask at rank r_m ≤ R. */
static enum ar_status write_module(struct ar_model *m, struct ar_model_module *mm,
                                   const struct ar_peft_module *am, unsigned flags)
{
    size_t R = (size_t)mm->rank, r = (size_t)am->rank, in = (size_t)mm->in,
           out = (size_t)mm->out;
    float *a = calloc(R * in, sizeof *a), *b = calloc(out * R, sizeof *b);
    float *g = calloc(R, sizeof *g);
    if (!a || !b || !g) {
        free(a), free(b), free(g);
        return ar__fail(m->ctx, AR_STATUS_OUT_OF_MEMORY, "adapter module %s", am->name);
    }
    double ratio = am->scale / (double)mm->scale; /* the kernel applies mm->scale */
    bool in_gates = flags & AR_PEFT_LOAD_SCALE_IN_GATES;
    float fold = in_gates ? 1.0f : (float)ratio;
    memcpy(a, am->a, r * in * sizeof *a);
    for (size_t o = 0; o < out; o++)
        for (size_t j = 0; j < r; j++) /* fold 1 copies B bit for bit */
            b[o * R + j] = fold == 1.0f ? am->b[o * r + j] : (float)(am->b[o * r + j] * ratio);
    for (size_t j = 0; j < R; j++) {
        g[j] = j < r ? (in_gates ? (float)ratio : 1.0f) : 0.0f;
        mm->mask[j] = j < r ? 1.0f : 0.0f;
    }
    struct ar_mem param = m->arena.param;
    enum ar_status st = ar_mem_write(m->ctx, ar_mem_at(param, mm->a_off), a, R * in);
    if (st == AR_STATUS_OK)
        st = ar_mem_write(m->ctx, ar_mem_at(param, mm->b_off), b, out * R);
    if (st == AR_STATUS_OK)
        st = ar_mem_write(m->ctx, ar_mem_at(param, mm->gate_off), g, R);
    free(a), free(b), free(g);
    return st;
}

enum ar_status ar_model_load_adapter(struct ar_model *m, const struct ar_peft_adapter *a,
                                     unsigned flags)
{
    const char *task = task_name(m);
    if (a->task_type && task && strcmp(a->task_type, task))
        return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                        "adapter task_type %s does not match the model's task %s", a->task_type,
                        task);
    int *index = calloc((size_t)(a->n_modules > 0 ? a->n_modules : 1), sizeof *index);
    if (!index)
        return ar__fail(m->ctx, AR_STATUS_OUT_OF_MEMORY, "adapter modules");
    enum ar_status st = match_modules(m, a, index);
    if (st == AR_STATUS_OK)
        st = match_head(m, a);
    for (int i = 0; st == AR_STATUS_OK && i < a->n_modules; i++)
        if (index[i] >= 0)
            st = write_module(m, &m->modules[index[i]], &a->modules[i], flags);
    free(index);
    for (int i = 0; st == AR_STATUS_OK && i < a->n_tensors; i++) {
        const struct ar_arena_slice *s = ar_arena_layout_find(m->arena.layout, a->tensors[i].name);
        st = ar_mem_write(m->ctx, ar_arena_view(s, m->arena.param), a->tensors[i].data, s->count);
    }
    return st == AR_STATUS_OK ? ar_model_sync_masks(m) : st;
}

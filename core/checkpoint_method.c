/* The rank method's part of a checkpoint: what lives outside the arena and is not a function of
 * the step. LoRA, SoRA and DyLoRA have none (SoRA's gates are arena parameters and its ξ follows
 * from the step; DyLoRA's b is drawn from (seed, step)). AutoLoRA and Flexora keep their selection
 * variables with a host Adam and a cursor in the search split (the shared bilevel state, saved
 * here); AdaLoRA keeps its smoothed sensitivities and budget pattern (impl->save_state).
 *
 * Layout: uint32 kind | uint32 has_bilevel | bilevel fields | uint64 n | n bytes of the impl. */
#include <stdlib.h>
#include <string.h>

#include "method_internal.h"

bool ar__bytes_put(struct ar__bytes *b, const void *p, size_t n)
{
    if (b->size + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->size + n)
            cap *= 2;
        unsigned char *d = realloc(b->data, cap);
        if (!d)
            return false;
        b->data = d, b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->size, p, n);
    b->size += n;
    return true;
}

bool ar__bytes_get(struct ar__bytes_reader *r, void *p, size_t n)
{
    if (n > r->size - r->pos)
        return false;
    if (n)
        memcpy(p, r->data + r->pos, n);
    r->pos += n;
    return true;
}

static bool put_u32(struct ar__bytes *b, uint32_t v)
{
    return ar__bytes_put(b, &v, sizeof v);
}

static bool put_u64(struct ar__bytes *b, uint64_t v)
{
    return ar__bytes_put(b, &v, sizeof v);
}

/* n, x, grad, Adam's moments and step, the last search step and loss, the search cursor. The
 * search order itself is regenerated from (seed, epoch) as hypergrad.c does. */
static bool put_bilevel(struct ar__bytes *o, const struct ar__bilevel *b)
{
    int32_t ints[4] = {b->n, b->adam_t, b->last_step, b->cursor};
    size_t n = (size_t)b->n;
    return ar__bytes_put(o, ints, sizeof ints) && put_u64(o, b->epoch) &&
           ar__bytes_put(o, &b->val_loss, sizeof b->val_loss) &&
           ar__bytes_put(o, b->x, n * sizeof *b->x) &&
           ar__bytes_put(o, b->grad, n * sizeof *b->grad) &&
           ar__bytes_put(o, b->adam_m, n * sizeof *b->adam_m) &&
           ar__bytes_put(o, b->adam_v, n * sizeof *b->adam_v);
}

enum ar_status ar__method_save_state(struct ar_method *m, struct ar__bytes *out)
{
    bool ok = put_u32(out, (uint32_t)m->p.kind) && put_u32(out, m->bilevel != NULL);
    if (ok && m->bilevel)
        ok = put_bilevel(out, m->bilevel);
    struct ar__bytes own = {0};
    enum ar_status st = AR_STATUS_OK;
    if (ok && m->impl->save_state)
        st = m->impl->save_state(m, &own);
    if (ok && st == AR_STATUS_OK)
        ok = put_u64(out, own.size) && ar__bytes_put(out, own.data, own.size);
    free(own.data);
    if (st != AR_STATUS_OK)
        return st;
    return ok ? AR_STATUS_OK
              : ar__fail(m->ctx, AR_STATUS_OUT_OF_MEMORY, "checkpoint: method state");
}

static enum ar_status bad(struct ar_method *m, const char *what)
{
    return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT, "checkpoint: method %s state: %s",
                    ar_method_kind_name(m->p.kind), what);
}

static enum ar_status get_bilevel(struct ar_method *m, struct ar__bytes_reader *in)
{
    struct ar__bilevel *b = m->bilevel;
    int32_t ints[4];
    uint64_t epoch;
    if (!ar__bytes_get(in, ints, sizeof ints) || !ar__bytes_get(in, &epoch, sizeof epoch))
        return bad(m, "truncated");
    if (ints[0] != b->n)
        return bad(m, "another number of selection variables");
    size_t n = (size_t)b->n;
    if (!ar__bytes_get(in, &b->val_loss, sizeof b->val_loss) ||
        !ar__bytes_get(in, b->x, n * sizeof *b->x) ||
        !ar__bytes_get(in, b->grad, n * sizeof *b->grad) ||
        !ar__bytes_get(in, b->adam_m, n * sizeof *b->adam_m) ||
        !ar__bytes_get(in, b->adam_v, n * sizeof *b->adam_v))
        return bad(m, "truncated");
    b->adam_t = ints[1], b->last_step = ints[2], b->cursor = ints[3], b->epoch = epoch;
    if (b->cursor >= 0) { /* the order of the saved search epoch (hypergrad.c's next batch) */
        if (!b->search || !b->order || b->cursor > b->search->count)
            return bad(m, "the search split is not set or is smaller than when saved");
        ar_dataset_permutation(b->search->count, m->seed ^ 0x53454152ULL, b->epoch, b->order);
    }
    /* the gates are arena parameters, restored with it; x is the truth they derive from */
    return AR_STATUS_OK;
}

enum ar_status ar__method_load_state(struct ar_method *m, struct ar__bytes_reader *in)
{
    uint32_t kind, has_bilevel;
    uint64_t own;
    if (!ar__bytes_get(in, &kind, sizeof kind) || !ar__bytes_get(in, &has_bilevel, sizeof kind))
        return bad(m, "truncated");
    if (kind != (uint32_t)m->p.kind)
        return ar__fail(m->ctx, AR_STATUS_INVALID_ARGUMENT,
                        "checkpoint: saved by method %s, the run uses %s",
                        ar_method_kind_name((enum ar_method_kind)kind),
                        ar_method_kind_name(m->p.kind));
    if ((has_bilevel != 0) != (m->bilevel != NULL))
        return bad(m, "the selection variables do not match");
    enum ar_status st = has_bilevel ? get_bilevel(m, in) : AR_STATUS_OK;
    if (st != AR_STATUS_OK)
        return st;
    if (!ar__bytes_get(in, &own, sizeof own) || own > in->size - in->pos)
        return bad(m, "truncated");
    struct ar__bytes_reader sub = {in->data + in->pos, (size_t)own, 0};
    in->pos += (size_t)own;
    if (m->impl->load_state)
        st = m->impl->load_state(m, &sub);
    else if (own)
        return bad(m, "unexpected data");
    if (st == AR_STATUS_OK && sub.pos != sub.size)
        return bad(m, "unexpected trailing data");
    return st;
}

/* The BPE model (Sennrich et al. 2016; GPT-2's byte-level variant, Radford et al. 2019 §2.2):
 * a word starts as its characters and the adjacent pair with the lowest merge rank is merged
 * until no pair in the word has a merge. Merging the leftmost of equal-rank pairs first gives
 * the same result as `tokenizers`' priority queue. */
#include <stdlib.h>

#include "tokenizer_internal.h"

static size_t pair_slot(size_t mask, int32_t left, int32_t right)
{
    /* A multiplicative mix of the two ids (Knuth's golden-ratio constant, 64 bit). */
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    key *= 0x9E3779B97F4A7C15ULL;
    return (size_t)(key ^ key >> 29) & mask;
}

bool ar__bpe_merges_init(struct ar_tokenizer *tok, size_t n)
{
    size_t slots = 16;
    while (slots < 2 * n) /* load factor <= 1/2 */
        slots *= 2;
    tok->merges = malloc(slots * sizeof *tok->merges);
    if (!tok->merges) return false;
    for (size_t i = 0; i < slots; i++)
        tok->merges[i].left = -1;
    tok->merges_mask = slots - 1;
    return true;
}

static const struct ar__merge_slot *merge_find(const struct ar_tokenizer *tok, int32_t left,
                                               int32_t right)
{
    for (size_t i = pair_slot(tok->merges_mask, left, right);; i = (i + 1) & tok->merges_mask) {
        const struct ar__merge_slot *m = &tok->merges[i];
        if (m->left < 0) return NULL;
        if (m->left == left && m->right == right) return m;
    }
}

void ar__bpe_merge_add(struct ar_tokenizer *tok, int32_t left, int32_t right, int32_t rank,
                       int32_t merged)
{
    size_t i = pair_slot(tok->merges_mask, left, right);
    while (tok->merges[i].left >= 0 &&
           !(tok->merges[i].left == left && tok->merges[i].right == right))
        i = (i + 1) & tok->merges_mask;
    /* A repeated pair keeps its last rank, as `tokenizers` (a map built in file order) does. */
    tok->merges[i] = (struct ar__merge_slot){left, right, rank, merged};
}

/* The word's characters as ids; characters missing from the vocabulary become [UNK] (fused
 * into one when fuse_unk) or are dropped when the model has no [UNK], like `tokenizers`. */
static bool initial_symbols(const struct ar_tokenizer *tok, const char *w, size_t n,
                            struct ar__tok_ids *sym)
{
    bool last_unk = false;
    sym->len = 0;
    for (size_t i = 0; i < n;) {
        size_t k = 1;
        while (i + k < n && ((unsigned char)w[i + k] & 0xC0) == 0x80)
            k++;
        int32_t id = ar__vocab_find(&tok->vocab, w + i, k);
        i += k;
        if (id >= 0) {
            last_unk = false;
            if (!ar__tok_ids_push(sym, id)) return false;
        } else if (tok->unk_id >= 0 && !(tok->fuse_unk && last_unk)) {
            last_unk = true;
            if (!ar__tok_ids_push(sym, tok->unk_id)) return false;
        }
    }
    return true;
}

bool ar__bpe_word(const struct ar_tokenizer *tok, const char *w, size_t n, struct ar__tok_ids *sym,
                  struct ar__tok_ids *out)
{
    if (tok->ignore_merges) { /* Llama-3: a word that is a token is taken whole */
        int32_t id = ar__vocab_find(&tok->vocab, w, n);
        if (id >= 0) return ar__tok_ids_push(out, id);
    }
    if (!initial_symbols(tok, w, n, sym)) return false;
    /* rank[i]: the merge of symbols i and i+1, or NULL; only the neighbours of a merge change. */
    const struct ar__merge_slot *small[64], **rank = small;
    if (sym->len > 64 && !(rank = malloc(sym->len * sizeof *rank))) return false;
    for (size_t i = 0; i + 1 < sym->len; i++)
        rank[i] = merge_find(tok, sym->data[i], sym->data[i + 1]);
    for (;;) {
        const struct ar__merge_slot *best = NULL;
        size_t at = 0;
        for (size_t i = 0; i + 1 < sym->len; i++)
            if (rank[i] && (!best || rank[i]->rank < best->rank)) best = rank[i], at = i;
        if (!best) break;
        sym->data[at] = best->merged;
        for (size_t i = at + 1; i + 1 < sym->len; i++)
            sym->data[i] = sym->data[i + 1];
        for (size_t i = at + 1; i + 2 < sym->len; i++)
            rank[i] = rank[i + 1];
        sym->len--;
        if (at > 0) rank[at - 1] = merge_find(tok, sym->data[at - 1], sym->data[at]);
        if (at + 1 < sym->len) rank[at] = merge_find(tok, sym->data[at], sym->data[at + 1]);
    }
    if (rank != small) free(rank);
    for (size_t i = 0; i < sym->len; i++)
        if (!ar__tok_ids_push(out, sym->data[i])) return false;
    return true;
}

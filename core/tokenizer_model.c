/* tokenizer.json "model": the vocabulary, WordPiece's parameters or BPE's merges. */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "tokenizer_internal.h"

static enum ar_status load_vocab(struct ar__tok_loader *L, const struct ar__json_node *vocab)
{
    struct ar_tokenizer *tok = L->tok;
    if (!vocab || vocab->type != AR__JSON_OBJECT)
        return ar__tok_fail(L, AR_STATUS_BAD_FORMAT, "model.vocab must be an object");
    int64_t max_id = -1;
    for (size_t i = 0; i < vocab->count; i++) {
        int64_t id;
        if (!ar__json_as_int(vocab->items[i], &id) || id < 0 || id >= INT32_MAX)
            return ar__tok_fail(L, AR_STATUS_BAD_FORMAT,
                                "model.vocab[\"%s\"] must be an id in [0, 2^31-1)", vocab->keys[i]);
        if (id > max_id) max_id = id;
    }
    if (!ar__vocab_init(&tok->vocab, (int32_t)(max_id + 1)))
        return ar__tok_fail(L, AR_STATUS_OUT_OF_MEMORY, "model.vocab: out of memory");
    for (size_t i = 0; i < vocab->count; i++) {
        bool dup;
        if (!ar__vocab_set(&tok->vocab, vocab->keys[i], vocab->key_lens[i],
                           (int32_t)vocab->items[i]->i64, &dup))
            return ar__tok_fail(L, AR_STATUS_OUT_OF_MEMORY, "model.vocab: out of memory");
        if (dup)
            return ar__tok_fail(L, AR_STATUS_BAD_FORMAT,
                                "model.vocab: \"%s\" or its id %lld appears twice", vocab->keys[i],
                                (long long)vocab->items[i]->i64);
    }
    tok->vocab_size = tok->vocab.count;
    return AR_STATUS_OK;
}

/* The id of the string member `key` (which must name a vocabulary entry); -1 when the member is
 * absent or null and optional. */
static enum ar_status vocab_member(struct ar__tok_loader *L, const struct ar__json_node *model,
                                   const char *key, bool required, int32_t *id)
{
    const struct ar__json_node *n = ar__json_get(model, key);
    *id = -1;
    if (!n || n->type == AR__JSON_NULL) {
        if (required) return ar__tok_fail(L, AR_STATUS_BAD_FORMAT, "model.%s is missing", key);
        return AR_STATUS_OK;
    }
    if (n->type != AR__JSON_STRING)
        return ar__tok_fail(L, AR_STATUS_BAD_FORMAT, "model.%s must be a string", key);
    *id = ar__vocab_find(&L->tok->vocab, n->str, n->len);
    if (*id < 0)
        return ar__tok_fail(L, AR_STATUS_BAD_FORMAT, "model.%s \"%s\" is not in the vocabulary",
                            key, n->str);
    return AR_STATUS_OK;
}

static enum ar_status load_wordpiece(struct ar__tok_loader *L, const struct ar__json_node *m)
{
    struct ar_tokenizer *tok = L->tok;
    enum ar_status st = vocab_member(L, m, "unk_token", true, &tok->unk_id);
    if (st) return st;
    const struct ar__json_node *prefix = ar__json_get(m, "continuing_subword_prefix");
    const char *p = "##";
    size_t plen = 2;
    if (prefix && prefix->type != AR__JSON_NULL) {
        if (prefix->type != AR__JSON_STRING)
            return ar__tok_fail(L, AR_STATUS_BAD_FORMAT,
                                "model.continuing_subword_prefix must be a string");
        p = prefix->str;
        plen = prefix->len;
    }
    if (!(tok->prefix = malloc(plen + 1)))
        return ar__tok_fail(L, AR_STATUS_OUT_OF_MEMORY, "out of memory");
    memcpy(tok->prefix, p, plen);
    tok->prefix[plen] = '\0';
    tok->prefix_len = plen;
    int64_t max_chars = 100;
    const struct ar__json_node *mc = ar__json_get(m, "max_input_chars_per_word");
    if (mc && mc->type != AR__JSON_NULL &&
        (!ar__json_as_int(mc, &max_chars) || max_chars < 0 || max_chars > INT32_MAX))
        return ar__tok_fail(L, AR_STATUS_BAD_FORMAT,
                            "model.max_input_chars_per_word must be a non-negative integer");
    tok->max_chars = (int)max_chars;
    return AR_STATUS_OK;
}

/* One merge, "a b" or ["a", "b"], as vocabulary ids (left, right, merged). */
static enum ar_status parse_merge(struct ar__tok_loader *L, const struct ar__json_node *n, size_t i,
                                  int32_t out[3])
{
    const struct ar__vocab *v = &L->tok->vocab;
    const char *a, *b;
    size_t alen, blen;
    if (n->type == AR__JSON_STRING) {
        const char *space = memchr(n->str, ' ', n->len);
        if (!space || memchr(space + 1, ' ', n->len - (size_t)(space + 1 - n->str)))
            return ar__tok_fail(L, AR_STATUS_BAD_FORMAT,
                                "model.merges[%zu] \"%s\" is not two tokens separated by one "
                                "space",
                                i, n->str);
        a = n->str, alen = (size_t)(space - n->str);
        b = space + 1, blen = n->len - alen - 1;
    } else if (n->type == AR__JSON_ARRAY && n->count == 2 && n->items[0]->type == AR__JSON_STRING &&
               n->items[1]->type == AR__JSON_STRING) {
        a = n->items[0]->str, alen = n->items[0]->len;
        b = n->items[1]->str, blen = n->items[1]->len;
    } else {
        return ar__tok_fail(L, AR_STATUS_BAD_FORMAT,
                            "model.merges[%zu] must be \"a b\" or [\"a\", \"b\"]", i);
    }
    struct ar__tok_buf ab = {0};
    if (!ar__tok_buf_put(&ab, a, alen) || !ar__tok_buf_put(&ab, b, blen)) {
        free(ab.data);
        return ar__tok_fail(L, AR_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    out[0] = ar__vocab_find(v, a, alen);
    out[1] = ar__vocab_find(v, b, blen);
    out[2] = ar__vocab_find(v, ab.data, ab.len);
    enum ar_status st = AR_STATUS_OK;
    if (out[0] < 0 || out[1] < 0 || out[2] < 0)
        st = ar__tok_fail(L, AR_STATUS_BAD_FORMAT,
                          "model.merges[%zu]: \"%.*s\", \"%.*s\" or their merge \"%s\" is not "
                          "in the vocabulary",
                          i, (int)alen, a, (int)blen, b, ab.data);
    free(ab.data);
    return st;
}

static enum ar_status load_bpe(struct ar__tok_loader *L, const struct ar__json_node *m)
{
    struct ar_tokenizer *tok = L->tok;
    enum ar_status st = vocab_member(L, m, "unk_token", false, &tok->unk_id);
    if (st) return st;
    bool byte_fallback = false;
    if ((st = ar__tok_opt_bool(L, m, "model", "fuse_unk", &tok->fuse_unk)) ||
        (st = ar__tok_opt_bool(L, m, "model", "ignore_merges", &tok->ignore_merges)) ||
        (st = ar__tok_opt_bool(L, m, "model", "byte_fallback", &byte_fallback)))
        return st;
    double dropout = 0;
    const struct ar__json_node *d = ar__json_get(m, "dropout");
    if (d && d->type != AR__JSON_NULL && (!ar__json_as_double(d, &dropout) || dropout != 0))
        return ar__tok_fail(L, AR_STATUS_UNSUPPORTED,
                            "model.dropout: BPE dropout is not supported (it is a training-time "
                            "regularizer; set it to null)");
    if (byte_fallback)
        return ar__tok_fail(L, AR_STATUS_UNSUPPORTED, "model.byte_fallback is not supported");
    const char *affix[2] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int k = 0; k < 2; k++) {
        const struct ar__json_node *n = ar__json_get(m, affix[k]);
        if (n && n->type != AR__JSON_NULL && !(n->type == AR__JSON_STRING && n->len == 0))
            return ar__tok_fail(L, AR_STATUS_UNSUPPORTED, "model.%s is not supported for BPE",
                                affix[k]);
    }
    const struct ar__json_node *merges = ar__json_get(m, "merges");
    if (!merges || merges->type != AR__JSON_ARRAY)
        return ar__tok_fail(L, AR_STATUS_BAD_FORMAT, "model.merges must be an array");
    if (!ar__bpe_merges_init(tok, merges->count))
        return ar__tok_fail(L, AR_STATUS_OUT_OF_MEMORY, "model.merges: out of memory");
    for (size_t i = 0; i < merges->count; i++) {
        int32_t ids[3] = {-1, -1, -1};
        if ((st = parse_merge(L, merges->items[i], i, ids))) return st;
        ar__bpe_merge_add(tok, ids[0], ids[1], (int32_t)i, ids[2]);
    }
    return AR_STATUS_OK;
}

enum ar_status ar__tok_load_model(struct ar__tok_loader *L, const struct ar__json_node *model)
{
    if (!model || model->type != AR__JSON_OBJECT)
        return ar__tok_fail(L, AR_STATUS_BAD_FORMAT, "\"model\" is missing or not an object");
    const char *type = NULL;
    const struct ar__json_node *t = ar__json_get(model, "type");
    if (t && !ar__json_as_string(t, &type))
        return ar__tok_fail(L, AR_STATUS_BAD_FORMAT, "model.type must be a string");
    if (!type) /* files written before "type" was serialized: BPE is the one with merges */
        type = ar__json_get(model, "merges") ? "BPE" : "WordPiece";
    enum ar__model_kind kind;
    if (strcmp(type, "WordPiece") == 0)
        kind = AR__MODEL_WORDPIECE;
    else if (strcmp(type, "BPE") == 0)
        kind = AR__MODEL_BPE;
    else
        return ar__tok_fail(L, AR_STATUS_UNSUPPORTED,
                            "model type \"%s\" is not supported (supported: WordPiece, BPE)", type);
    L->tok->model = kind;
    enum ar_status st = load_vocab(L, ar__json_get(model, "vocab"));
    if (st) return st;
    return kind == AR__MODEL_WORDPIECE ? load_wordpiece(L, model) : load_bpe(L, model);
}

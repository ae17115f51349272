/* Post-processing: the special tokens around the sequences ([CLS] A [SEP] B [SEP]), their type
 * ids, and the truncation that makes room for them. TemplateProcessing, BertProcessing and
 * RobertaProcessing all become one template; ByteLevel's post-processor only fixes offsets,
 * which we do not produce, so it is a no-op here. */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "tokenizer_internal.h"

void ar__tmpl_free(struct ar__tmpl *t)
{
    for (int i = 0; t->items && i < t->count; i++)
        free(t->items[i].ids);
    free(t->items);
    memset(t, 0, sizeof *t);
}

static bool tmpl_add(struct ar__tmpl *t, int seq, int32_t type_id, const int32_t *ids, int n)
{
    struct ar__tmpl_item *items = realloc(t->items, (size_t)(t->count + 1) * sizeof *items);
    if (!items) return false;
    t->items = items;
    struct ar__tmpl_item *it = &items[t->count++];
    *it = (struct ar__tmpl_item){.seq = seq, .type_id = type_id};
    if (n > 0) {
        if (!(it->ids = malloc((size_t)n * sizeof *ids))) return false;
        memcpy(it->ids, ids, (size_t)n * sizeof *ids);
        it->n_ids = n;
        t->n_special += n;
    }
    return true;
}

/* The default when there is no post-processor: A, and B with type id 1. */
static bool default_templates(struct ar_tokenizer *tok)
{
    return tmpl_add(&tok->single, 0, 0, NULL, 0) && tmpl_add(&tok->pair, 0, 0, NULL, 0) &&
           tmpl_add(&tok->pair, 1, 1, NULL, 0);
}

/* ["[SEP]", 102] */
static enum ar_status token_pair(struct ar__tok_loader *L, const struct ar__json_node *n,
                                 const char *key, int32_t *id)
{
    int64_t v;
    const struct ar__json_node *p = ar__json_get(n, key);
    if (!ar__json_as_int(ar__json_at(p, 1), &v) || v < 0 || v >= L->tok->vocab_size)
        return ar__tok_fail(L, AR_STATUS_BAD_FORMAT,
                            "post_processor.%s must be [token, id] with an id in the vocabulary",
                            key);
    *id = (int32_t)v;
    return AR_STATUS_OK;
}

/* BertProcessing: [CLS] A [SEP] / [CLS] A [SEP] B [SEP] (B part type 1).
 * RobertaProcessing: <s> A </s> / <s> A </s> </s> B </s> (all type 0). */
static enum ar_status bert_like(struct ar__tok_loader *L, const struct ar__json_node *n,
                                bool roberta)
{
    struct ar_tokenizer *tok = L->tok;
    int32_t cls, sep;
    enum ar_status st;
    if ((st = token_pair(L, n, "cls", &cls)) || (st = token_pair(L, n, "sep", &sep))) return st;
    int32_t b_type = roberta ? 0 : 1;
    bool ok = tmpl_add(&tok->single, -1, 0, &cls, 1) && tmpl_add(&tok->single, 0, 0, NULL, 0) &&
              tmpl_add(&tok->single, -1, 0, &sep, 1) && tmpl_add(&tok->pair, -1, 0, &cls, 1) &&
              tmpl_add(&tok->pair, 0, 0, NULL, 0) && tmpl_add(&tok->pair, -1, 0, &sep, 1) &&
              (!roberta || tmpl_add(&tok->pair, -1, 0, &sep, 1)) &&
              tmpl_add(&tok->pair, 1, b_type, NULL, 0) && tmpl_add(&tok->pair, -1, b_type, &sep, 1);
    return ok ? AR_STATUS_OK : ar__tok_fail(L, AR_STATUS_OUT_OF_MEMORY, "out of memory");
}

static enum ar_status template_items(struct ar__tok_loader *L, const struct ar__json_node *n,
                                     const char *which, struct ar__tmpl *t)
{
    const struct ar__json_node *list = ar__json_get(n, which);
    const struct ar__json_node *specials = ar__json_get(n, "special_tokens");
    if (!list || list->type != AR__JSON_ARRAY)
        return ar__tok_fail(L, AR_STATUS_BAD_FORMAT, "post_processor.%s must be an array", which);
    unsigned seen = 0; /* bit 0: A, bit 1: B */
    for (size_t i = 0; i < list->count; i++) {
        const struct ar__json_node *seq = ar__json_get(list->items[i], "Sequence");
        const struct ar__json_node *sp = ar__json_get(list->items[i], "SpecialToken");
        const struct ar__json_node *item = seq ? seq : sp;
        const char *id;
        int64_t type_id = 0;
        if (!item || !ar__json_as_string(ar__json_get(item, "id"), &id) ||
            !ar__json_as_int(ar__json_get(item, "type_id"), &type_id) || type_id < 0 ||
            type_id > INT32_MAX)
            return ar__tok_fail(L, AR_STATUS_BAD_FORMAT,
                                "post_processor.%s[%zu] must be {\"Sequence\"|\"SpecialToken\": "
                                "{\"id\": ..., \"type_id\": ...}}",
                                which, i);
        bool ok;
        if (seq) {
            if (strcmp(id, "A") != 0 && strcmp(id, "B") != 0)
                return ar__tok_fail(L, AR_STATUS_BAD_FORMAT,
                                    "post_processor.%s[%zu]: sequence id \"%s\" is not A or B",
                                    which, i, id);
            /* Truncation leaves room for each sequence once (ar__tok_truncate): a template
             * repeating one would write past max_len. */
            if (seen & (1u << (id[0] == 'B')))
                return ar__tok_fail(L, AR_STATUS_UNSUPPORTED,
                                    "post_processor.%s[%zu]: sequence %s appears twice", which, i,
                                    id);
            seen |= 1u << (id[0] == 'B');
            ok = tmpl_add(t, id[0] == 'B', (int32_t)type_id, NULL, 0);
        } else {
            const struct ar__json_node *ids = ar__json_get(ar__json_get(specials, id), "ids");
            if (!ids || ids->type != AR__JSON_ARRAY || ids->count > 64)
                return ar__tok_fail(L, AR_STATUS_BAD_FORMAT,
                                    "post_processor.special_tokens[\"%s\"].ids is missing", id);
            int32_t v[64];
            for (size_t k = 0; k < ids->count; k++) {
                int64_t x;
                if (!ar__json_as_int(ids->items[k], &x) || x < 0 || x >= L->tok->vocab_size)
                    return ar__tok_fail(L, AR_STATUS_BAD_FORMAT,
                                        "post_processor.special_tokens[\"%s\"].ids[%zu] is not "
                                        "an id in the vocabulary",
                                        id, k);
                v[k] = (int32_t)x;
            }
            ok = tmpl_add(t, -1, (int32_t)type_id, v, (int)ids->count);
        }
        if (!ok) return ar__tok_fail(L, AR_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    return AR_STATUS_OK;
}

static enum ar_status load_one(struct ar__tok_loader *L, const struct ar__json_node *n,
                               bool *templated)
{
    const char *type;
    if (!ar__json_as_string(ar__json_get(n, "type"), &type))
        return ar__tok_fail(L, AR_STATUS_BAD_FORMAT, "post_processor.type is missing");
    if (strcmp(type, "Sequence") == 0) {
        const struct ar__json_node *list = ar__json_get(n, "processors");
        if (!list || list->type != AR__JSON_ARRAY)
            return ar__tok_fail(L, AR_STATUS_BAD_FORMAT,
                                "post_processor.processors must be an array");
        enum ar_status st = AR_STATUS_OK;
        for (size_t i = 0; i < list->count && !st; i++)
            st = load_one(L, list->items[i], templated);
        return st;
    }
    if (strcmp(type, "ByteLevel") == 0) return AR_STATUS_OK;
    bool template = strcmp(type, "TemplateProcessing") == 0;
    bool bert = strcmp(type, "BertProcessing") == 0,
         roberta = strcmp(type, "RobertaProcessing") == 0;
    if (!template && !bert && !roberta)
        return ar__tok_fail(L, AR_STATUS_UNSUPPORTED,
                            "post_processor type \"%s\" is not supported (supported: "
                            "TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, "
                            "Sequence)",
                            type);
    if (*templated)
        return ar__tok_fail(L, AR_STATUS_UNSUPPORTED,
                            "post_processor: two processors that add special tokens");
    *templated = true;
    if (!template) return bert_like(L, n, roberta);
    enum ar_status st = template_items(L, n, "single", &L->tok->single);
    return st ? st : template_items(L, n, "pair", &L->tok->pair);
}

enum ar_status ar__tok_load_post(struct ar__tok_loader *L, const struct ar__json_node *post)
{
    bool templated = false;
    if (post && post->type != AR__JSON_NULL) {
        enum ar_status st = load_one(L, post, &templated);
        if (st) return st;
    }
    if (!templated && !default_templates(L->tok))
        return ar__tok_fail(L, AR_STATUS_OUT_OF_MEMORY, "out of memory");
    return AR_STATUS_OK;
}

void ar__tok_truncate(const struct ar__tmpl *t, struct ar__tok_ids *a, struct ar__tok_ids *b,
                      int max_len)
{
    size_t room = (size_t)(max_len - t->n_special);
    if (!b) {
        if (a->len > room) a->len = room;
        return;
    }
    if (a->len + b->len <= room) return;
    /* `tokenizers`' LongestFirst: the shorter sequence keeps its length when the longer one can
     * absorb the cut; otherwise both get half the room, the longer one the odd token. */
    bool swap = a->len > b->len;
    size_t n1 = swap ? b->len : a->len, n2;
    n2 = n1 > room ? n1 : (n1 > room - n1 ? n1 : room - n1);
    if (n1 + n2 > room) {
        n1 = room / 2;
        n2 = n1 + room % 2;
    }
    size_t na = swap ? n2 : n1, nb = swap ? n1 : n2;
    if (a->len > na) a->len = na;
    if (b->len > nb) b->len = nb;
}

int ar__tok_apply_template(const struct ar__tmpl *t, const struct ar__tok_ids *a,
                           const struct ar__tok_ids *b, int32_t *ids, int32_t *type_ids)
{
    int n = 0;
    for (int i = 0; i < t->count; i++) {
        const struct ar__tmpl_item *it = &t->items[i];
        if (it->seq == 1 && !b) /* a single-sequence template naming B */
            continue;
        const int32_t *src = it->seq < 0 ? it->ids : it->seq == 0 ? a->data : b->data;
        size_t len = it->seq < 0 ? (size_t)it->n_ids : it->seq == 0 ? a->len : b->len;
        for (size_t k = 0; k < len; k++, n++) {
            ids[n] = src[k];
            if (type_ids) type_ids[n] = it->type_id;
        }
    }
    return n;
}

/* tokenizer.json -> struct ar_tokenizer. Every component is checked: a type this library does
 * not implement is AR_STATUS_UNSUPPORTED naming it, a missing or ill-typed field is
 * AR_STATUS_BAD_FORMAT naming its JSON path. The post-processor lives in tokenizer_post.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "tokenizer_internal.h"

enum ar_status ar__tok_fail(struct ar__tok_loader *L, enum ar_status st, const char *fmt, ...)
{
    if (L->err && L->err_size) {
        int used = snprintf(L->err, L->err_size, "%s: ", L->name);
        va_list ap;
        va_start(ap, fmt);
        if (used >= 0 && (size_t)used < L->err_size)
            vsnprintf(L->err + used, L->err_size - (size_t)used, fmt, ap);
        va_end(ap);
    }
    return st;
}

/* Optional boolean member: *out keeps its default when the member is absent or null. */
enum ar_status ar__tok_opt_bool(struct ar__tok_loader *L, const struct ar__json_node *obj,
                                const char *path, const char *key, bool *out)
{
    const struct ar__json_node *n = ar__json_get(obj, key);
    if (!n || n->type == AR__JSON_NULL || ar__json_as_bool(n, out)) return AR_STATUS_OK;
    return ar__tok_fail(L, AR_STATUS_BAD_FORMAT, "%s.%s must be true or false", path, key);
}

/* "type" of a component object. */
static enum ar_status type_of(struct ar__tok_loader *L, const struct ar__json_node *obj,
                              const char *path, const char **type)
{
    if (!obj || obj->type != AR__JSON_OBJECT)
        return ar__tok_fail(L, AR_STATUS_BAD_FORMAT, "%s must be an object", path);
    if (!ar__json_as_string(ar__json_get(obj, "type"), type))
        return ar__tok_fail(L, AR_STATUS_BAD_FORMAT, "%s.type is missing or not a string", path);
    return AR_STATUS_OK;
}

/* ---- normalizer ------------------------------------------------------------------------ */

static enum ar_status load_normalizer(struct ar__tok_loader *L, const struct ar__json_node *n,
                                      const char *path)
{
    struct ar_tokenizer *tok = L->tok;
    if (!n || n->type == AR__JSON_NULL) return AR_STATUS_OK;
    const char *type;
    enum ar_status st = type_of(L, n, path, &type);
    if (st) return st;
    if (strcmp(type, "Sequence") == 0) {
        const struct ar__json_node *list = ar__json_get(n, "normalizers");
        if (!list || list->type != AR__JSON_ARRAY)
            return ar__tok_fail(L, AR_STATUS_BAD_FORMAT, "%s.normalizers must be an array", path);
        for (size_t i = 0; i < list->count && !st; i++)
            st = load_normalizer(L, list->items[i], "normalizer.normalizers[]");
        return st;
    }
    if (tok->n_norms == AR__TOK_MAX_STEPS)
        return ar__tok_fail(L, AR_STATUS_UNSUPPORTED, "more than %d normalizers",
                            AR__TOK_MAX_STEPS);
    struct ar__norm *nm = &tok->norms[tok->n_norms];
    if (strcmp(type, "BertNormalizer") == 0) {
        *nm = (struct ar__norm){
            .kind = AR__NORM_BERT, .clean_text = true, .chinese = true, .lowercase = true};
        bool strip_set = false;
        const struct ar__json_node *sa = ar__json_get(n, "strip_accents");
        if ((st = ar__tok_opt_bool(L, n, path, "clean_text", &nm->clean_text)) ||
            (st = ar__tok_opt_bool(L, n, path, "handle_chinese_chars", &nm->chinese)) ||
            (st = ar__tok_opt_bool(L, n, path, "lowercase", &nm->lowercase)) ||
            (st = ar__tok_opt_bool(L, n, path, "strip_accents", &nm->strip_accents)))
            return st;
        strip_set = sa && sa->type != AR__JSON_NULL;
        if (!strip_set) /* null: strip accents exactly when lower-casing, as BERT does */
            nm->strip_accents = nm->lowercase;
    } else if (strcmp(type, "Lowercase") == 0) {
        nm->kind = AR__NORM_LOWERCASE;
    } else if (strcmp(type, "StripAccents") == 0) {
        nm->kind = AR__NORM_STRIP_ACCENTS;
    } else {
        return ar__tok_fail(L, AR_STATUS_UNSUPPORTED,
                            "normalizer type \"%s\" is not supported (supported: BertNormalizer, "
                            "Lowercase, StripAccents, Sequence)",
                            type);
    }
    tok->n_norms++;
    return AR_STATUS_OK;
}

/* ---- pre-tokenizer --------------------------------------------------------------------- */

/* The split patterns of GPT-2 (also ByteLevel's built-in one) and of Llama-3, as they appear
 * in tokenizer.json files; only these are implemented (by hand, see tokenizer_pretok.c). */
static const char gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char llama3_pattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static enum ar_status load_split(struct ar__tok_loader *L, const struct ar__json_node *n,
                                 struct ar__pretok *pt)
{
    const char *regex = NULL, *behavior = NULL;
    bool invert = false;
    enum ar_status st = ar__tok_opt_bool(L, n, "pre_tokenizer", "invert", &invert);
    if (st) return st;
    if (!ar__json_as_string(ar__json_get(ar__json_get(n, "pattern"), "Regex"), &regex))
        return ar__tok_fail(L, AR_STATUS_UNSUPPORTED,
                            "pre_tokenizer Split: only a {\"Regex\": ...} pattern is supported");
    if (!ar__json_as_string(ar__json_get(n, "behavior"), &behavior) ||
        strcmp(behavior, "Isolated") != 0 || invert)
        return ar__tok_fail(L, AR_STATUS_UNSUPPORTED,
                            "pre_tokenizer Split: only behavior \"Isolated\" without invert is "
                            "supported");
    if (strcmp(regex, gpt2_pattern) == 0)
        pt->kind = AR__PRETOK_GPT2;
    else if (strcmp(regex, llama3_pattern) == 0)
        pt->kind = AR__PRETOK_LLAMA3;
    else
        return ar__tok_fail(L, AR_STATUS_UNSUPPORTED,
                            "pre_tokenizer Split: the pattern \"%.200s\" is not supported (only "
                            "GPT-2's and Llama-3's are implemented)",
                            regex);
    return AR_STATUS_OK;
}

static enum ar_status load_pretok(struct ar__tok_loader *L, const struct ar__json_node *n,
                                  const char *path)
{
    struct ar_tokenizer *tok = L->tok;
    if (!n || n->type == AR__JSON_NULL) return AR_STATUS_OK;
    const char *type;
    enum ar_status st = type_of(L, n, path, &type);
    if (st) return st;
    if (strcmp(type, "Sequence") == 0) {
        const struct ar__json_node *list = ar__json_get(n, "pretokenizers");
        if (!list || list->type != AR__JSON_ARRAY)
            return ar__tok_fail(L, AR_STATUS_BAD_FORMAT, "%s.pretokenizers must be an array", path);
        for (size_t i = 0; i < list->count && !st; i++)
            st = load_pretok(L, list->items[i], "pre_tokenizer.pretokenizers[]");
        return st;
    }
    if (tok->n_pretoks == AR__TOK_MAX_STEPS)
        return ar__tok_fail(L, AR_STATUS_UNSUPPORTED, "more than %d pre-tokenizers",
                            AR__TOK_MAX_STEPS);
    struct ar__pretok *pt = &tok->pretoks[tok->n_pretoks];
    if (strcmp(type, "BertPreTokenizer") == 0) {
        pt->kind = AR__PRETOK_BERT;
    } else if (strcmp(type, "WhitespaceSplit") == 0) {
        pt->kind = AR__PRETOK_WHITESPACE;
    } else if (strcmp(type, "ByteLevel") == 0) {
        *pt = (struct ar__pretok){
            .kind = AR__PRETOK_BYTELEVEL, .add_prefix_space = true, .use_regex = true};
        if ((st = ar__tok_opt_bool(L, n, path, "add_prefix_space", &pt->add_prefix_space)) ||
            (st = ar__tok_opt_bool(L, n, path, "use_regex", &pt->use_regex)))
            return st;
    } else if (strcmp(type, "Split") == 0) {
        if ((st = load_split(L, n, pt))) return st;
    } else {
        return ar__tok_fail(L, AR_STATUS_UNSUPPORTED,
                            "pre_tokenizer type \"%s\" is not supported (supported: "
                            "BertPreTokenizer, WhitespaceSplit, ByteLevel, Split, Sequence)",
                            type);
    }
    tok->n_pretoks++;
    return AR_STATUS_OK;
}

/* ---- added tokens ---------------------------------------------------------------------- */

static enum ar_status load_added(struct ar__tok_loader *L, const struct ar__json_node *list)
{
    struct ar_tokenizer *tok = L->tok;
    if (!list || list->type == AR__JSON_NULL) return AR_STATUS_OK;
    if (list->type != AR__JSON_ARRAY)
        return ar__tok_fail(L, AR_STATUS_BAD_FORMAT, "added_tokens must be an array");
    tok->added = calloc(list->count ? list->count : 1, sizeof *tok->added);
    if (!tok->added) return ar__tok_fail(L, AR_STATUS_OUT_OF_MEMORY, "added_tokens: out of memory");
    for (size_t i = 0; i < list->count; i++) {
        const struct ar__json_node *n = list->items[i];
        struct ar__added *a = &tok->added[tok->n_added];
        const char *content;
        int64_t id;
        if (!ar__json_as_string(ar__json_get(n, "content"), &content) ||
            !ar__json_as_int(ar__json_get(n, "id"), &id) || id < 0 || id >= INT32_MAX)
            return ar__tok_fail(L, AR_STATUS_BAD_FORMAT,
                                "added_tokens[%zu] needs a string \"content\" and an id in "
                                "[0, 2^31-1)",
                                i);
        a->id = (int32_t)id;
        bool special = false;
        enum ar_status st;
        char where[48];
        snprintf(where, sizeof where, "added_tokens[%zu]", i);
        if ((st = ar__tok_opt_bool(L, n, where, "special", &special)) ||
            (st = ar__tok_opt_bool(L, n, where, "lstrip", &a->lstrip)) ||
            (st = ar__tok_opt_bool(L, n, where, "rstrip", &a->rstrip)) ||
            (st = ar__tok_opt_bool(L, n, where, "single_word", &a->single_word)))
            return st;
        a->normalized = !special; /* the default of AddedToken */
        if ((st = ar__tok_opt_bool(L, n, where, "normalized", &a->normalized))) return st;
        /* A normalized token is looked for in normalized text, so normalize it too. */
        struct ar__tok_buf text = {0};
        size_t len = ar__json_get(n, "content")->len;
        bool ok = a->normalized ? ar__tok_normalize(tok, content, len, &text)
                                : ar__tok_buf_put(&text, content, len);
        if (!ok) {
            free(text.data);
            return ar__tok_fail(L, AR_STATUS_OUT_OF_MEMORY, "added_tokens: out of memory");
        }
        a->text = text.data;
        a->len = text.len;
        if (a->len) tok->added_first[a->normalized][(unsigned char)a->text[0]] = true;
        tok->n_added++;
        if (a->id >= tok->vocab_size) tok->vocab_size = a->id + 1;
    }
    return AR_STATUS_OK;
}

/* ---- the whole file -------------------------------------------------------------------- */

static enum ar_status load_limits(struct ar__tok_loader *L, const struct ar__json_node *root)
{
    struct ar_tokenizer *tok = L->tok;
    int64_t v;
    const struct ar__json_node *trunc = ar__json_get(root, "truncation");
    if (trunc && trunc->type != AR__JSON_NULL) {
        if (!ar__json_as_int(ar__json_get(trunc, "max_length"), &v) || v <= 0 || v > INT32_MAX)
            return ar__tok_fail(L, AR_STATUS_BAD_FORMAT,
                                "truncation.max_length must be a positive integer");
        tok->max_length = (int)v;
    }
    tok->pad_id = ar_tokenizer_token_id(tok, "[PAD]");
    if (tok->pad_id < 0) tok->pad_id = ar_tokenizer_token_id(tok, "<pad>");
    const struct ar__json_node *pad = ar__json_get(root, "padding");
    if (pad && pad->type != AR__JSON_NULL) {
        if (!ar__json_as_int(ar__json_get(pad, "pad_id"), &v) || v < 0 || v >= tok->vocab_size)
            return ar__tok_fail(L, AR_STATUS_BAD_FORMAT,
                                "padding.pad_id must be an id below the vocabulary size %d",
                                (int)tok->vocab_size);
        tok->pad_id = (int32_t)v;
    }
    return AR_STATUS_OK;
}

static enum ar_status load_doc(struct ar__tok_loader *L, const struct ar__json_node *root)
{
    enum ar_status st = AR_STATUS_OK;
    if (!(L->tok = calloc(1, sizeof *L->tok)))
        return ar__tok_fail(L, AR_STATUS_OUT_OF_MEMORY, "out of memory");
    if (root->type != AR__JSON_OBJECT)
        st = ar__tok_fail(L, AR_STATUS_BAD_FORMAT, "the top level must be an object");
    if (!st) st = ar__tok_load_model(L, ar__json_get(root, "model"));
    if (!st) st = load_normalizer(L, ar__json_get(root, "normalizer"), "normalizer");
    if (!st) st = load_pretok(L, ar__json_get(root, "pre_tokenizer"), "pre_tokenizer");
    if (!st) st = load_added(L, ar__json_get(root, "added_tokens"));
    if (!st) st = ar__tok_load_post(L, ar__json_get(root, "post_processor"));
    if (!st) st = load_limits(L, root);
    if (st) {
        ar_tokenizer_free(L->tok);
        L->tok = NULL;
    }
    return st;
}

enum ar_status ar_tokenizer_load_json(const char *text, size_t len, const char *name,
                                      struct ar_tokenizer **out, char *err, size_t err_size)
{
    *out = NULL;
    struct ar__tok_loader L = {
        .name = name ? name : "tokenizer.json", .err = err, .err_size = err_size};
    char jerr[256];
    struct ar__json_doc *doc = ar__json_parse(text, len, jerr, sizeof jerr);
    if (!doc) return ar__tok_fail(&L, AR_STATUS_BAD_FORMAT, "not valid JSON: %s", jerr);
    enum ar_status st = load_doc(&L, ar__json_root(doc));
    ar__json_free(doc);
    *out = L.tok;
    return st;
}

enum ar_status ar_tokenizer_load(const char *path, struct ar_tokenizer **out, char *err,
                                 size_t err_size)
{
    *out = NULL;
    struct ar__tok_loader L = {.name = path, .err = err, .err_size = err_size};
    char jerr[512];
    struct ar__json_doc *doc = ar__json_parse_file(path, jerr, sizeof jerr);
    if (!doc) {
        /* ar__json_parse_file's message starts with "PATH: "; a syntax error has a position,
         * anything else (cannot open, cannot read) is an input/output failure. */
        bool syntax = strstr(jerr, ": line ") != NULL;
        snprintf(err, err_size, "%s%s", jerr, syntax ? " (not valid JSON)" : "");
        return syntax ? AR_STATUS_BAD_FORMAT : AR_STATUS_IO;
    }
    enum ar_status st = load_doc(&L, ar__json_root(doc));
    ar__json_free(doc);
    *out = L.tok;
    return st;
}

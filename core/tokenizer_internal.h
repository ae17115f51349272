/* Shared by the tokenizer files:
 *   tokenizer.c           public API: the encode pipeline, padding, lookups
 *   tokenizer_load.c      tokenizer.json -> struct ar_tokenizer: normalizer, pre-tokenizer,
 *                         added tokens (every component validated)
 *   tokenizer_model.c     ... the model: vocabulary, WordPiece parameters, BPE merges
 *   tokenizer_post.c      ... the post-processor as a template; truncation
 *   tokenizer_text.c      growable buffers, the vocabulary hash, normalizers, added tokens
 *   tokenizer_pretok.c    pre-tokenizers: BERT, whitespace, GPT-2 / Llama-3 splits, byte level
 *   tokenizer_wordpiece.c the WordPiece model
 *   tokenizer_bpe.c       the BPE model (merges)
 * The encode pipeline mirrors Hugging Face `tokenizers`: split out added tokens, normalize,
 * pre-tokenize into pieces, run the model on each piece, truncate, add special tokens.
 */
#ifndef ADARANK_CORE_TOKENIZER_INTERNAL_H
#define ADARANK_CORE_TOKENIZER_INTERNAL_H

#include <stdbool.h>

#include "adarank/tokenizer.h"
#include "unicode.h"

#define AR__TOK_MAX_STEPS 8 /* components in a normalizer / pre-tokenizer Sequence */

/* ---- growable buffers (tokenizer_text.c) ----------------------------------------------- */

struct ar__tok_buf {
    char *data;
    size_t len, cap;
};
struct ar__tok_ids {
    int32_t *data;
    size_t len, cap;
};
/* Pieces of text: piece i is text.data[ends[i-1] .. ends[i]) (ends[-1] = 0). */
struct ar__tok_pieces {
    struct ar__tok_buf text;
    size_t *ends;
    size_t count, cap;
};

bool ar__tok_buf_put(struct ar__tok_buf *b, const char *s, size_t n);
bool ar__tok_buf_put_cp(struct ar__tok_buf *b, uint32_t cp);
bool ar__tok_ids_push(struct ar__tok_ids *v, int32_t id);
/* Appends s[0..n) as a new piece (empty pieces are dropped). */
bool ar__tok_pieces_add(struct ar__tok_pieces *p, const char *s, size_t n);
/* Closes what was appended to text since the last piece as a new piece (if not empty). */
bool ar__tok_pieces_end(struct ar__tok_pieces *p);
void ar__tok_pieces_clear(struct ar__tok_pieces *p);
void ar__tok_pieces_free(struct ar__tok_pieces *p);
static inline const char *ar__tok_piece(const struct ar__tok_pieces *p, size_t i, size_t *n)
{
    size_t start = i ? p->ends[i - 1] : 0;
    *n = p->ends[i] - start;
    return p->text.data + start;
}

/* ---- the vocabulary: token text <-> id (tokenizer_text.c) ------------------------------- */

struct ar__vocab {
    char **text;  /* (count) NUL-terminated, NULL for ids with no entry */
    size_t *lens; /* (count) */
    int32_t count;
    int32_t *slots; /* open addressing: id + 1, 0 = empty */
    size_t mask;
};

bool ar__vocab_init(struct ar__vocab *v, int32_t count);
/* false on out of memory; *dup is set when the text or the id is already present. */
bool ar__vocab_set(struct ar__vocab *v, const char *s, size_t n, int32_t id, bool *dup);
int32_t ar__vocab_find(const struct ar__vocab *v, const char *s, size_t n); /* -1 if absent */
void ar__vocab_free(struct ar__vocab *v);
uint64_t ar__tok_hash(const void *data, size_t n);

/* ---- components ------------------------------------------------------------------------ */

enum ar__norm_kind { AR__NORM_BERT, AR__NORM_LOWERCASE, AR__NORM_STRIP_ACCENTS };
struct ar__norm {
    enum ar__norm_kind kind;
    bool clean_text, chinese, strip_accents, lowercase; /* BertNormalizer */
};

enum ar__pretok_kind {
    AR__PRETOK_BERT,       /* split on whitespace (dropped) and punctuation (kept alone) */
    AR__PRETOK_WHITESPACE, /* WhitespaceSplit */
    AR__PRETOK_GPT2,       /* Split with GPT-2's pattern, isolated */
    AR__PRETOK_LLAMA3,     /* Split with Llama-3's pattern, isolated */
    AR__PRETOK_BYTELEVEL,  /* [prefix space], [GPT-2 split], bytes -> printable characters */
};
struct ar__pretok {
    enum ar__pretok_kind kind;
    bool add_prefix_space, use_regex; /* AR__PRETOK_BYTELEVEL */
};

struct ar__added {
    char *text; /* as matched: raw for normalized == false, else normalized */
    size_t len;
    int32_t id;
    bool normalized, lstrip, rstrip, single_word;
};

/* One post-processor template item: a special token (its ids) or sequence A / B. */
struct ar__tmpl_item {
    int seq; /* -1 special, 0 = A, 1 = B */
    int32_t type_id;
    int32_t *ids;
    int n_ids;
};
struct ar__tmpl {
    struct ar__tmpl_item *items;
    int count;
    int n_special; /* ids the template adds */
};

enum ar__model_kind { AR__MODEL_WORDPIECE, AR__MODEL_BPE };

struct ar__merge_slot {
    int32_t left, right; /* -1 = empty */
    int32_t rank, merged;
};

struct ar_tokenizer {
    enum ar__model_kind model;
    struct ar__vocab vocab;
    int32_t unk_id; /* -1 when none */
    /* WordPiece */
    char *prefix;
    size_t prefix_len;
    int max_chars;
    /* BPE */
    struct ar__merge_slot *merges;
    size_t merges_mask;
    bool ignore_merges, fuse_unk;
    /* pipeline */
    struct ar__norm norms[AR__TOK_MAX_STEPS];
    int n_norms;
    struct ar__pretok pretoks[AR__TOK_MAX_STEPS];
    int n_pretoks;
    struct ar__added *added;
    size_t n_added;
    bool added_first[2][256]; /* [normalized][byte]: some added token starts with the byte */
    struct ar__tmpl single, pair;
    int32_t vocab_size, pad_id;
    int max_length;
};

/* ---- loading (tokenizer_load.c, tokenizer_model.c, tokenizer_post.c) --------------------- */

struct ar__json_node;
struct ar__tok_loader {
    struct ar_tokenizer *tok;
    const char *name; /* the file, for messages */
    char *err;
    size_t err_size;
};

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
/* Writes "NAME: message" and returns st. */
enum ar_status
ar__tok_fail(struct ar__tok_loader *L, enum ar_status st, const char *fmt, ...);
/* Optional boolean member obj.key (path names obj in messages); absent or null keeps *out. */
enum ar_status ar__tok_opt_bool(struct ar__tok_loader *L, const struct ar__json_node *obj,
                                const char *path, const char *key, bool *out);
enum ar_status ar__tok_load_model(struct ar__tok_loader *L, const struct ar__json_node *model);
enum ar_status ar__tok_load_post(struct ar__tok_loader *L, const struct ar__json_node *post);
/* Truncates A and B (B may be NULL) to fit max_len ids with the template's special tokens. */
void ar__tok_truncate(const struct ar__tmpl *t, struct ar__tok_ids *a, struct ar__tok_ids *b,
                      int max_len);
/* Writes the template's output: special tokens and the sequences, with type ids. */
int ar__tok_apply_template(const struct ar__tmpl *t, const struct ar__tok_ids *a,
                           const struct ar__tok_ids *b, int32_t *ids, int32_t *type_ids);
void ar__tmpl_free(struct ar__tmpl *t);

/* ---- encoding -------------------------------------------------------------------------- */

/* Applies the normalizers to s[0..n), appending to out. */
bool ar__tok_normalize(const struct ar_tokenizer *tok, const char *s, size_t n,
                       struct ar__tok_buf *out);
/* Splits s[0..n) at added tokens: calls emit(text span) and emit_id(token) in order.
 * normalized selects the added tokens matched (see struct ar__added). */
struct ar__tok_sink {
    bool (*text)(void *user, const char *s, size_t n);
    bool (*token)(void *user, int32_t id);
    void *user;
};
bool ar__tok_split_added(const struct ar_tokenizer *tok, bool normalized, const char *s, size_t n,
                         const struct ar__tok_sink *sink);

/* Runs pre-tokenizer `step` on every piece of in, appending the results to out. */
bool ar__pretok_apply(const struct ar__pretok *step, const struct ar__tok_pieces *in,
                      struct ar__tok_pieces *out);

/* Appends the ids of one pre-tokenized word. */
bool ar__wordpiece_word(const struct ar_tokenizer *tok, const char *w, size_t n,
                        struct ar__tok_buf *scratch, struct ar__tok_ids *out);
bool ar__bpe_word(const struct ar_tokenizer *tok, const char *w, size_t n,
                  struct ar__tok_ids *scratch, struct ar__tok_ids *out);
/* The merge table: room for n merges (false on out of memory), then (left, right) -> merged
 * at rank; a pair added twice keeps the later rank. */
bool ar__bpe_merges_init(struct ar_tokenizer *tok, size_t n);
void ar__bpe_merge_add(struct ar_tokenizer *tok, int32_t left, int32_t right, int32_t rank,
                       int32_t merged);

#endif

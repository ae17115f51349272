/* Labelled text data: reading, tokenizing, splitting and batching.
 *
 * A data file is JSONL (one object per line), CSV (RFC 4180: a field in double quotes may hold
 * commas, doubled quotes and line breaks) or TSV (one record per line, fields split at tabs, no
 * quoting: a quote character is an ordinary character, as in the IANA text/tab-separated-values
 * type). CSV and TSV files start with a header row naming the columns. A file holds one of four
 * column sets:
 *
 *     text, label                  single-text classification
 *     text_a, text_b, label        sentence-pair classification
 *     prompt, completion           generation (no label; causal LM: ar_dataset_encode_lm)
 *     tokens, ner_tags             token classification, JSONL only (dataset_tokens.c): a list of
 *                                  words and a list of as many tags, names or integers, as the
 *                                  Hugging Face datasets write them:
 *                                  {"tokens": ["EU", "rejects"], "ner_tags": ["B-ORG", "O"]}
 *
 * Labels (and tags) are class names, mapped to ids in sorted (byte) order, or non-negative integers used as
 * ids, or names from a list the caller gives (the training file's, so that validation and test
 * ids agree). A bad row (a missing column, a wrong field count, an unknown label, invalid UTF-8)
 * is reported as "FILE:LINE: what" and fails the read, unless skip_bad_rows is set: then it is
 * counted and the first few messages are kept for a warning.
 *
 * Reading is separate from tokenizing: ar_dataset_encode takes any encoder function, so the data
 * layer needs no tokenizer (ar_dataset_tokenizer_encode adapts tokenizer.h's; tests pass a toy
 * one).
 */
#ifndef ADARANK_DATASET_H
#define ADARANK_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ar_dataset_format {
    AR_DATASET_FORMAT_AUTO, /* from the extension: .jsonl/.json, .csv, .tsv/.tab/.txt */
    AR_DATASET_FORMAT_JSONL,
    AR_DATASET_FORMAT_CSV,
    AR_DATASET_FORMAT_TSV,
};

enum ar_dataset_columns {
    AR_DATASET_COLUMNS_AUTO,   /* from the header (CSV/TSV) or the first row's keys (JSONL) */
    AR_DATASET_COLUMNS_TEXT,   /* text, label */
    AR_DATASET_COLUMNS_PAIR,   /* text_a, text_b, label */
    AR_DATASET_COLUMNS_PROMPT, /* prompt, completion */
    AR_DATASET_COLUMNS_TOKENS, /* tokens, ner_tags: words and their tags (JSONL) */
};

/* The most label classes a file may define (a guard against an id column read as labels). */
#define AR_DATASET_MAX_LABELS 4096
/* How many bad-row messages are kept (the rest are counted). */
#define AR_DATASET_MAX_REPORTED 10

struct ar_dataset_params {
    enum ar_dataset_format format;
    enum ar_dataset_columns columns;
    /* Column names; NULL means the default name of the column set. */
    const char *text_column;   /* "text", "text_a", "prompt" or "tokens" (the words) */
    const char *text_b_column; /* "text_b" or "completion" */
    const char *label_column;  /* "label", or "ner_tags" (the tags of the words) */
    /* Class names in id order. NULL: taken from the data (integers, else sorted names). */
    const char *const *labels;
    int label_count;
    bool skip_bad_rows;
};

struct ar_dataset_params ar_dataset_default_params(void);

struct ar_example {
    const char *text;   /* text, text_a or prompt (UTF-8, NUL-terminated) */
    const char *text_b; /* text_b or completion; NULL for single texts */
    int label;          /* class id; -1 for prompt/completion and tokens rows */
    int line;           /* 1-based line in the file where the row starts */
    /* TOKENS rows: `words` words, stored one after the other from `text`, each NUL-terminated
     * (the next starts after the NUL), and their tag ids tags[0..words). */
    int words;
    const int32_t *tags;
};

struct ar_dataset {
    char *path;
    enum ar_dataset_format format;
    enum ar_dataset_columns columns;
    int count;
    struct ar_example *examples; /* (count) */
    int num_labels;              /* 0 for prompt/completion data */
    char **label_names;          /* (num_labels) */
    bool integer_labels;         /* labels were read as integer ids */
    int skipped;                 /* bad rows skipped (skip_bad_rows only) */
    char *skip_report;           /* their first messages, one per line; NULL when none */
    char *storage;               /* internal: holds the example strings */
    int32_t *tag_storage;        /* internal: the tag ids of TOKENS rows */
};

/* Reads a data file. On failure err holds "FILE:LINE: what" (several lines for several bad rows,
 * at most AR_DATASET_MAX_REPORTED, then a count). Free with ar_dataset_free. */
enum ar_status ar_dataset_read(const char *path, const struct ar_dataset_params *params,
                               struct ar_dataset **out, char *err, size_t err_size);
/* Same, from memory; `name` stands in for the file name in messages and picks the format. */
enum ar_status ar_dataset_read_buffer(const char *name, const char *data, size_t size,
                                      const struct ar_dataset_params *params,
                                      struct ar_dataset **out, char *err, size_t err_size);
void ar_dataset_free(struct ar_dataset *ds); /* NULL is fine */

const char *ar_dataset_format_name(enum ar_dataset_format format);
const char *ar_dataset_columns_name(enum ar_dataset_columns columns);

/* ---- tokenized data ------------------------------------------------------------------------ */

/* Turns one example into token ids: ids and type_ids have room for max_len entries; *len gets
 * the number written. Truncation to max_len is the encoder's job (it knows where [SEP] goes). */
typedef enum ar_status (*ar_encode_fn)(void *user, const char *text, const char *text_b,
                                       int max_len, int32_t *ids, int32_t *type_ids, int *len,
                                       char *err, size_t err_size);

struct ar_encoded {
    int count;
    int num_labels;
    int64_t *offsets;  /* (count + 1): example i is tokens offsets[i] .. offsets[i+1] */
    int32_t *ids;      /* (offsets[count]) */
    int32_t *type_ids; /* (offsets[count]) */
    int32_t *labels;   /* (count); -1 for token classification sets */
    int32_t *lines;    /* (count) the source line of each example, for messages */
    /* Token classification sets (ar_dataset_encode_words), else NULL: the tag id of every token,
     * on the first sub-token of each word, AR_IGNORE_LABEL (−100) on the other sub-tokens and on
     * special tokens, as transformers' word_ids() alignment; and the tag names (owned copies),
     * which tell the evaluation whether the tags are IOB2 (entity-level F1). */
    int32_t *token_labels;  /* (offsets[count]) */
    char **label_names;     /* (num_labels) */
    int max_len;       /* the longest example */
    int truncated;     /* examples cut to max_len */
};

/* An ar_encode_fn over a loaded tokenizer.h tokenizer: pass the struct ar_tokenizer * as user. */
enum ar_status ar_dataset_tokenizer_encode(void *tokenizer, const char *text, const char *text_b,
                                           int max_len, int32_t *ids, int32_t *type_ids, int *len,
                                           char *err, size_t err_size);

/* The label of a token that no loss or metric counts (PyTorch's ignore_index). */
#define AR_IGNORE_LABEL (-100)

/* Encodes the words of one TOKENS row as if the text were split into them
 * (transformers' is_split_into_words=True): at most max_len ids with the special tokens, and
 * word_ids[t] = the index of the word token t comes from, or −1 for a special token. Truncation
 * (the encoder's job) drops sub-tokens from the end, keeping the special tokens. */
typedef enum ar_status (*ar_encode_words_fn)(void *user, const char *const *words, int n_words,
                                             int max_len, int32_t *ids, int32_t *type_ids,
                                             int32_t *word_ids, int *len, char *err,
                                             size_t err_size);

/* An ar_encode_words_fn over a tokenizer.h tokenizer (pass it as user): every word is encoded
 * alone through the normalizer, pre-tokenizer and model, as `tokenizers` does for pre-tokenized
 * input; a byte-level BPE tokenizer gets a space before every word (transformers' RoBERTa needs
 * add_prefix_space=True for split words, and its ByteLevel step then prefixes each word). */
enum ar_status ar_dataset_tokenizer_encode_words(void *tokenizer, const char *const *words,
                                                 int n_words, int max_len, int32_t *ids,
                                                 int32_t *type_ids, int32_t *word_ids, int *len,
                                                 char *err, size_t err_size);

/* Encodes a TOKENS data set: every row's words through `encode`, its tags onto the first
 * sub-token of each word (token_labels); a word cut off by truncation loses its tag. */
enum ar_status ar_dataset_encode_words(const struct ar_dataset *ds, ar_encode_words_fn encode,
                                       void *user, int max_len, struct ar_encoded **out,
                                       char *err, size_t err_size);

/* An ar_encode_fn over a tokenizer that leaves out the special tokens (text_b must be NULL). */
enum ar_status ar_dataset_tokenizer_encode_plain(void *tokenizer, const char *text,
                                                 const char *text_b, int max_len, int32_t *ids,
                                                 int32_t *type_ids, int *len, char *err,
                                                 size_t err_size);

/* Prompt/completion data for causal-LM fine-tuning (completion-only loss, as TRL's and PEFT's
 * examples do it; dataset_lm.c):
 *     ids          = prompt (with the tokenizer's special tokens, e.g. Llama's BOS)
 *                    + completion (without special tokens) + eos
 *     token_labels = AR_IGNORE_LABEL where the next token is still the prompt's, else the next
 *                    token: only the completion and the eos are learned (transformers' loss with
 *                    labels = ids, −100 over the prompt, shifted inside the model). Already
 *                    shifted, as ar_batch.token_labels takes them for AR_TASK_CAUSAL_LM.
 * Truncation to max_len keeps the completion and cuts the prompt from the LEFT (its start goes,
 * the text nearest the completion stays; a leading bos_id is kept); when the completion and eos
 * alone need more than max_len − 1 tokens, the prompt keeps one token and the completion is cut
 * from the right (its eos then goes too). labels are −1 and num_labels 0. */
struct ar_lm_encoder {
    ar_encode_fn prompt;     /* with special tokens (ar_dataset_tokenizer_encode) */
    ar_encode_fn completion; /* without (ar_dataset_tokenizer_encode_plain) */
    void *user;
    int32_t eos_id;          /* appended after every completion */
    int32_t bos_id;          /* a prompt's first token kept by truncation when equal; −1: none */
};

enum ar_status ar_dataset_encode_lm(const struct ar_dataset *ds, const struct ar_lm_encoder *enc,
                                    int max_len, struct ar_encoded **out, char *err,
                                    size_t err_size);

/* Encodes every example with at most max_len tokens. Free with ar_encoded_free. */
enum ar_status ar_dataset_encode(const struct ar_dataset *ds, ar_encode_fn encode, void *user,
                                 int max_len, struct ar_encoded **out, char *err,
                                 size_t err_size);
void ar_encoded_free(struct ar_encoded *set); /* NULL is fine */

static inline int ar_encoded_length(const struct ar_encoded *set, int i)
{
    return (int)(set->offsets[i + 1] - set->offsets[i]);
}

/* A new set with the examples rows[0..n) of `set`, in that order. */
enum ar_status ar_encoded_subset(const struct ar_encoded *set, const int *rows, int n,
                                 struct ar_encoded **out);

/* Splits off a validation set: a seeded shuffle of the examples, the first
 * round(fraction·count) (at least 1, at most count − 1) go to *val, the rest to *train, each in
 * the original file order. fraction in (0, 1). */
enum ar_status ar_encoded_split(const struct ar_encoded *set, double fraction, uint64_t seed,
                                struct ar_encoded **train, struct ar_encoded **val, char *err,
                                size_t err_size);

/* A uniform random permutation of 0..n-1 that depends only on (seed, epoch): the order of an
 * epoch is reproducible without replaying the earlier ones. */
void ar_dataset_permutation(int n, uint64_t seed, uint64_t epoch, int *perm);

/* ---- padded batches ------------------------------------------------------------------------ */

/* Host buffers of one batch, padded to its longest example (dynamic padding). */
struct ar_padded_batch {
    int batch, time;
    int32_t *ids;       /* (batch, time) */
    int32_t *type_ids;  /* (batch, time) */
    int32_t *attn_mask; /* (batch, time) 1 = token, 0 = padding */
    int32_t *labels;    /* (batch) */
    int32_t *token_labels; /* (batch, time) when the set has token_labels (AR_IGNORE_LABEL on
                            * padding), else NULL: ar_batch.token_labels */
    size_t tokens;      /* real (unpadded) tokens in the batch */
    size_t cap_tokens, cap_rows;
};

/* Fills `out` with examples rows[0..n) of `set`, padding with pad_id. Buffers grow as needed;
 * release them with ar_padded_batch_free. */
enum ar_status ar_padded_batch_fill(struct ar_padded_batch *out, const struct ar_encoded *set,
                                    const int *rows, int n, int32_t pad_id);
void ar_padded_batch_free(struct ar_padded_batch *batch);

#ifdef __cplusplus
}
#endif

#endif

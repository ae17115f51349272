/* Tokenizers loaded from a Hugging Face tokenizer.json, in plain C (no device needed).
 *
 * Two model families are supported, with the components real checkpoints use:
 *   - WordPiece (BERT, MiniLM): BertNormalizer, BertPreTokenizer, greedy longest-match-first
 *     with the "##" continuation prefix;
 *   - byte-level BPE (GPT-2, RoBERTa, Llama-3): the ByteLevel pre-tokenizer with GPT-2's split
 *     pattern, or a Split with Llama-3's pattern followed by ByteLevel, and ranked merges given
 *     either as "a b" strings or as ["a", "b"] pairs.
 * Added tokens (e.g. [MASK], <|endoftext|>) are recognized in the text; TemplateProcessing,
 * BertProcessing and RobertaProcessing add the special tokens. Any other normalizer,
 * pre-tokenizer, model or post-processor type fails to load with AR_STATUS_UNSUPPORTED and a
 * message naming it: a tokenizer is never silently approximated. (The "decoder" is not read:
 * this library only encodes.)
 *
 * The ids agree exactly with the `tokenizers` Python library (0.23.3) on
 * tests/fixtures/tokens.tsv, on all 4,000 training reviews, and on every code point of
 * planes 0-3 and 14-16 in several contexts.
 * A loaded tokenizer is read-only: encode may be called from several threads at once.
 */
#ifndef ADARANK_TOKENIZER_H
#define ADARANK_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ar_tokenizer;

/* Loads a tokenizer.json. Errors: AR_STATUS_IO (cannot read), AR_STATUS_BAD_FORMAT (not JSON,
 * or a missing/ill-typed field, with its JSON path), AR_STATUS_UNSUPPORTED (a component type this
 * library does not implement, named in the message). */
enum ar_status ar_tokenizer_load(const char *path, struct ar_tokenizer **out, char *err,
                                 size_t err_size);
/* The same from a JSON text in memory (text[0..len)); `name` is used in messages. */
enum ar_status ar_tokenizer_load_json(const char *text, size_t len, const char *name,
                                      struct ar_tokenizer **out, char *err, size_t err_size);
void ar_tokenizer_free(struct ar_tokenizer *tok); /* NULL is fine */

/* Encodes UTF-8 text[0..len), and the pair text_pair[0..pair_len) when text_pair is not NULL,
 * into at most max_len ids including the special tokens of the post-processor ([CLS] A [SEP] or
 * [CLS] A [SEP] B [SEP] for BERT). When the sequence is longer, it is truncated like
 * `tokenizers` does with TruncationStrategy::LongestFirst: tokens are removed from the end of
 * the longer of A and B, special tokens are always kept. ids and type_ids (may be NULL) must
 * hold max_len entries; *n_out receives the count written.
 * Errors: AR_STATUS_BAD_FORMAT for invalid UTF-8 (the message gives the byte offset),
 * AR_STATUS_INVALID_ARGUMENT when max_len cannot even hold the special tokens. */
enum ar_status ar_tokenizer_encode(const struct ar_tokenizer *tok, const char *text, size_t len,
                                   const char *text_pair, size_t pair_len, int max_len,
                                   int32_t *ids, int32_t *type_ids, int *n_out, char *err,
                                   size_t err_size);

/* The same for one text without the post-processor's special tokens (transformers'
 * add_special_tokens=False): what completion fine-tuning appends after a prompt. At most max_len
 * ids; longer encodings are cut at the end. */
enum ar_status ar_tokenizer_encode_plain(const struct ar_tokenizer *tok, const char *text,
                                         size_t len, int max_len, int32_t *ids, int *n_out,
                                         char *err, size_t err_size);

/* Fills positions n..max_len-1 with the pad id and type id 0, and writes the attention mask
 * (1 for the n real tokens, 0 after); any of type_ids / mask may be NULL. */
void ar_tokenizer_pad(const struct ar_tokenizer *tok, int32_t *ids, int32_t *type_ids,
                      int32_t *mask, int n, int max_len);

/* The id of a token (vocabulary entry or added token, e.g. "[PAD]", "##ing", "Ġthe"), or -1. */
int32_t ar_tokenizer_token_id(const struct ar_tokenizer *tok, const char *token);
/* The text of an id (as stored in the vocabulary), or NULL when out of range. */
const char *ar_tokenizer_token(const struct ar_tokenizer *tok, int32_t id);
/* One past the largest id (vocabulary and added tokens). */
int32_t ar_tokenizer_vocab_size(const struct ar_tokenizer *tok);
/* The padding id: the file's "padding.pad_id", else the id of [PAD] / <pad>, else -1. */
int32_t ar_tokenizer_pad_id(const struct ar_tokenizer *tok);
/* The file's "truncation.max_length" (what the model was trained with), or 0 when absent. */
int ar_tokenizer_max_length(const struct ar_tokenizer *tok);

#ifdef __cplusplus
}
#endif

#endif

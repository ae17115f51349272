/* Labelled toy data for the tests that train the tiny BERT fixture without a tokenizer
 * (test_train_loop.c, test_checkpoint.c), and a toy word encoder for the token-classification
 * tests. Uses test.h's CHECK: include it after test.h. */
#ifndef ADARANK_TEST_TOY_DATA_H
#define ADARANK_TEST_TOY_DATA_H

#include <stdio.h>
#include <string.h>

#include "adarank/dataset.h"
#include "test.h"

/* [CLS]=2, one id per byte in 5..94, [SEP]=3: inside the fixture's vocabulary of 97. */
static inline enum ar_status toy_encode(void *user, const char *a, const char *b, int max_len,
                                        int32_t *ids, int32_t *types, int *len, char *e, size_t es)
{
    (void)user, (void)b, (void)e, (void)es;
    int n = 0;
    ids[n] = 2, types[n++] = 0;
    for (const char *s = a; *s && n < max_len - 1; s++)
        ids[n] = 5 + (unsigned char)*s % 90, types[n++] = 0;
    ids[n] = 3, types[n++] = 0;
    *len = n;
    return AR_STATUS_OK;
}

/* `rows` short reviews, row i of class i % classes, encoded at most 16 tokens; `name` stands for
 * the file in messages. NULL (with a failed CHECK) when the data does not load. */
static inline struct ar_encoded *toy_reviews(int rows, int classes, const char *name)
{
    static const char *const words[] = {"tasty",       "awful stuff", "okay I guess", "great deal!",
                                        "never again", "so-so",       "love it",      "bad"};
    char text[4096] = "label\ttext\n", err[1024] = "";
    for (int i = 0; i < rows; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%d\t%s %d\n", i % classes,
                 words[i % 8], i);
    struct ar_dataset *ds = NULL;
    struct ar_encoded *set = NULL;
    if (ar_dataset_read_buffer(name, text, strlen(text), NULL, &ds, err, sizeof err) ||
        ar_dataset_encode(ds, toy_encode, NULL, 16, &set, err, sizeof err))
        CHECK(0, "data: %s", err);
    ar_dataset_free(ds);
    return set;
}

/* A toy word encoder (test_dataset_tokens.c, test_eval_predictions.c): [CLS] = 1, every word cut
 * into pieces of 2 bytes (id = 10 + first byte), [SEP] = 2; truncation drops pieces from the end
 * and keeps both specials. */
static inline enum ar_status toy_words(void *user, const char *const *words, int n_words,
                                       int max_len, int32_t *ids, int32_t *type_ids,
                                       int32_t *word_ids, int *len, char *why, size_t why_size)
{
    (void)user, (void)why, (void)why_size;
    int n = 0;
    ids[n] = 1, word_ids[n++] = -1;
    for (int w = 0; w < n_words; w++)
        for (size_t k = 0; k < strlen(words[w]) && n < max_len - 1; k += 2)
            ids[n] = 10 + (unsigned char)words[w][k], word_ids[n++] = w;
    ids[n] = 2, word_ids[n++] = -1;
    for (int t = 0; t < n; t++)
        type_ids[t] = 0;
    *len = n;
    return AR_STATUS_OK;
}

#endif

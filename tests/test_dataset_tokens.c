/* Token-classification data (dataset_tokens.c, dataset_words.c): the words/tags JSONL reader,
 * tag ids, bad rows as FILE:LINE, the word → sub-token label alignment on a toy encoder (first
 * sub-token labelled, −100 elsewhere), truncation, subsets and padded batches, and the real
 * tokenizers: all-MiniLM-L6-v2's WordPiece against ids and word_ids() printed by transformers
 * 4.30.2 (BertTokenizerFast, is_split_into_words=True), and byte-level BPE's per-word space. */
#include "test.h"
#include "toy_data.h"

#include "adarank/dataset.h"
#include "adarank/tokenizer.h"

static char err[4096];

static struct ar_dataset *read_text(const char *text, const struct ar_dataset_params *p,
                                    enum ar_status *st)
{
    struct ar_dataset *ds = NULL;
    err[0] = '\0';
    *st = ar_dataset_read_buffer("ner.jsonl", text, strlen(text), p, &ds, err, sizeof err);
    return ds;
}

static void read_bad(const char *text, const struct ar_dataset_params *p, const char *needle)
{
    enum ar_status st;
    struct ar_dataset *ds = read_text(text, p, &st);
    CHECK(st == AR_STATUS_BAD_FORMAT && !ds, "%s: got %s", text, ar_status_name(st));
    CHECK(strstr(err, needle) != NULL, "message \"%s\" lacks \"%s\"", err, needle);
    ar_dataset_free(ds);
}

static const char *const conll = "{\"tokens\": [\"EU\", \"rejects\", \"German\", \"call\"], "
                                 "\"ner_tags\": [\"B-ORG\", \"O\", \"B-MISC\", \"O\"]}\n"
                                 "\n"
                                 "{\"ner_tags\": [\"B-PER\", \"I-PER\"], "
                                 "\"tokens\": [\"Peter\", \"Blackburn\"]}\n";

static void reader(void)
{
    enum ar_status st;
    struct ar_dataset *ds = read_text(conll, NULL, &st);
    CHECK(st == AR_STATUS_OK && ds, "read: %s", err);
    if (!ds)
        return;
    CHECK(ds->columns == AR_DATASET_COLUMNS_TOKENS, "columns %s",
          ar_dataset_columns_name(ds->columns));
    CHECK(ds->count == 2 && ds->examples[1].line == 3, "2 rows, second on line 3");
    /* sorted tag names: B-MISC, B-ORG, B-PER, I-PER, O */
    CHECK(ds->num_labels == 5 && !strcmp(ds->label_names[0], "B-MISC") &&
              !strcmp(ds->label_names[4], "O"),
          "%d tags", ds->num_labels);
    const struct ar_example *e = &ds->examples[0];
    CHECK(e->words == 4 && !strcmp(e->text, "EU") && !strcmp(e->text + 3, "rejects"),
          "words stored one after the other");
    CHECK(e->tags[0] == 1 && e->tags[1] == 4 && e->tags[2] == 0 && e->tags[3] == 4, "tag ids");
    CHECK(e->label == -1, "no sequence label");
    CHECK(ds->examples[1].tags[0] == 2 && ds->examples[1].tags[1] == 3, "PER tags");

    /* validation with the training file's tags: the same ids; an unknown tag is a bad row */
    struct ar_dataset_params p = ar_dataset_default_params();
    p.labels = (const char *const *)ds->label_names, p.label_count = ds->num_labels;
    p.columns = ds->columns;
    struct ar_dataset *val = read_text("{\"tokens\": [\"Paris\"], \"ner_tags\": [\"O\"]}\n", &p,
                                       &st);
    CHECK(st == AR_STATUS_OK && val && val->examples[0].tags[0] == 4, "given tags: %s", err);
    ar_dataset_free(val);
    read_bad("{\"tokens\": [\"Paris\"], \"ner_tags\": [\"B-LOC\"]}\n", &p,
             "ner.jsonl:1: unknown tag \"B-LOC\" (word 1");
    ar_dataset_free(ds);

    /* integer tags (conll2003 as `datasets` writes it): "0".."max"; with given names too */
    const char *ints = "{\"tokens\": [\"a\", \"b\"], \"ner_tags\": [0, 3]}\n";
    ds = read_text(ints, NULL, &st);
    CHECK(st == AR_STATUS_OK && ds && ds->num_labels == 4 && ds->integer_labels &&
              ds->examples[0].tags[1] == 3,
          "integer tags: %s", err);
    ar_dataset_free(ds);
    const char *names[] = {"O", "B-PER", "I-PER", "B-LOC"};
    p = ar_dataset_default_params();
    p.labels = names, p.label_count = 4;
    ds = read_text(ints, &p, &st);
    CHECK(st == AR_STATUS_OK && ds && ds->examples[0].tags[1] == 3 &&
              !strcmp(ds->label_names[3], "B-LOC"),
          "integer tags with names: %s", err);
    ar_dataset_free(ds);

    /* other column names */
    p = ar_dataset_default_params();
    p.columns = AR_DATASET_COLUMNS_TOKENS;
    p.text_column = "words", p.label_column = "tags";
    ds = read_text("{\"words\": [\"x\", \"y\"], \"tags\": [\"O\", \"O\"], \"id\": 7}\n", &p, &st);
    CHECK(st == AR_STATUS_OK && ds && ds->count == 1 && ds->num_labels == 1, "columns: %s", err);
    ar_dataset_free(ds);
}

static void bad_rows(void)
{
    struct ar_dataset_params p = ar_dataset_default_params();
    p.columns = AR_DATASET_COLUMNS_TOKENS;
    read_bad("{\"tokens\": [\"a\", \"b\"], \"ner_tags\": [\"O\"]}\n", &p,
             "ner.jsonl:1: 2 words in \"tokens\" but 1 tags in \"ner_tags\"");
    read_bad("{\"tokens\": \"a b\", \"ner_tags\": [\"O\", \"O\"]}\n", &p,
             "ner.jsonl:1: \"tokens\" must be a list of words");
    read_bad("{\"tokens\": [\"a\"], \"ner_tags\": \"O\"}\n", &p,
             "\"ner_tags\" must be a list of tags");
    read_bad("{\"tokens\": [\"a\", 5], \"ner_tags\": [\"O\", \"O\"]}\n", &p,
             "ner.jsonl:1: word 2 of \"tokens\" must be a string");
    read_bad("{\"tokens\": [\"a\"], \"ner_tags\": [-1]}\n", &p,
             "tag 1 of \"ner_tags\" must be a non-empty string or an integer >= 0");
    read_bad("{\"tokens\": [], \"ner_tags\": []}\n", &p, "\"tokens\" is an empty list");
    read_bad("{\"tokens\": [\"a\"]}\n", &p, "ner.jsonl:1: no \"ner_tags\" member");
    /* every bad row is reported, with its line, and a good one is kept with skip_bad_rows */
    const char *mixed = "{\"tokens\": [\"a\"], \"ner_tags\": [\"O\"]}\n"
                        "{\"tokens\": [\"a\", \"b\"], \"ner_tags\": [\"O\"]}\n"
                        "not json\n";
    read_bad(mixed, &p, "ner.jsonl:3: invalid JSON");
    CHECK(strstr(err, "ner.jsonl:2: 2 words") && strstr(err, "2 bad rows"), "both rows: %s",
          err);
    p.skip_bad_rows = true;
    enum ar_status st;
    struct ar_dataset *ds = read_text(mixed, &p, &st);
    CHECK(st == AR_STATUS_OK && ds && ds->count == 1 && ds->skipped == 2, "skipped: %s", err);
    ar_dataset_free(ds);
    /* words and tags cannot be CSV fields */
    struct ar_dataset *csv = NULL;
    const char *text = "tokens,ner_tags\na,O\n";
    st = ar_dataset_read_buffer("ner.csv", text, strlen(text), NULL, &csv, err, sizeof err);
    CHECK(st == AR_STATUS_BAD_FORMAT && !csv && strstr(err, "must be JSONL"), "CSV: %s", err);
}

static void alignment(void)
{
    enum ar_status st;
    struct ar_dataset *ds = read_text(conll, NULL, &st);
    if (!ds)
        return;
    struct ar_encoded *set = NULL;
    st = ar_dataset_encode_words(ds, toy_words, NULL, 64, &set, err, sizeof err);
    CHECK(st == AR_STATUS_OK && set, "encode: %s", err);
    if (!set) {
        ar_dataset_free(ds);
        return;
    }
    /* EU (1 piece) rejects (4) German (3) call (2): B-ORG, O, B-MISC, O on the first pieces */
    const int32_t want[] = {-100, 1, 4, -100, -100, -100, 0, -100, -100, 4, -100, -100};
    CHECK(ar_encoded_length(set, 0) == 12 && set->truncated == 0, "12 tokens, got %d",
          ar_encoded_length(set, 0));
    for (int t = 0; t < 12; t++)
        CHECK(set->token_labels[t] == want[t], "token %d: label %d want %d", t,
              set->token_labels[t], want[t]);
    CHECK(set->labels[0] == -1 && set->num_labels == 5 && !strcmp(set->label_names[2], "B-PER"),
          "set keeps the tag names");
    /* subset (as the validation split makes) and a padded batch keep the token labels */
    int rows[2] = {1, 0};
    struct ar_encoded *sub = NULL;
    CHECK(ar_encoded_subset(set, rows, 2, &sub) == AR_STATUS_OK && sub && sub->token_labels &&
              sub->label_names && !strcmp(sub->label_names[4], "O"),
          "subset");
    struct ar_padded_batch pb = {0};
    if (sub) {
        CHECK(ar_padded_batch_fill(&pb, sub, (int[]){0, 1}, 2, 0) == AR_STATUS_OK, "fill");
        /* row 0: [CLS] Pe te r Bl ac kb ur n [SEP] → PER on Pe, Bl; padded to 12 with −100 */
        CHECK(pb.time == 12 && pb.token_labels, "time %d", pb.time);
        if (pb.token_labels) {
            CHECK(pb.token_labels[1] == 2 && pb.token_labels[4] == 3 && pb.token_labels[2] == -100,
                  "row 0 labels");
            CHECK(pb.token_labels[11] == -100 && pb.attn_mask[11] == 0, "padding is ignored");
            CHECK(pb.token_labels[12 + 9] == 4, "row 1 keeps its labels");
        }
    }
    /* a sequence-classification set gives no token labels */
    struct ar_encoded plain = {.count = 1, .offsets = (int64_t[]){0, 2}, .ids = (int32_t[]){5, 6},
                               .type_ids = (int32_t[]){0, 0}, .labels = (int32_t[]){1}};
    CHECK(ar_padded_batch_fill(&pb, &plain, (int[]){0}, 1, 0) == AR_STATUS_OK &&
              pb.token_labels == NULL,
          "no token labels for a plain set");
    ar_padded_batch_free(&pb);
    ar_encoded_free(sub);
    ar_encoded_free(set);

    /* truncation: 7 tokens keep [CLS] EU re je ct s [SEP]: German and call lose their tags */
    st = ar_dataset_encode_words(ds, toy_words, NULL, 7, &set, err, sizeof err);
    CHECK(st == AR_STATUS_OK && set && set->truncated == 1 && ar_encoded_length(set, 0) == 7,
          "truncated: %s", err);
    for (int t = 0; set && t < 7; t++)
        CHECK(set->token_labels[t] == (t == 1 ? 1 : t == 2 ? 4 : -100), "cut labels: %d: %d", t,
              set->token_labels[t]);
    ar_encoded_free(set);
    /* the sequence encoder refuses word lists; the word encoder refuses texts */
    CHECK(ar_dataset_encode(ds, NULL, NULL, 8, &set, err, sizeof err) ==
                  AR_STATUS_INVALID_ARGUMENT &&
              strstr(err, "ar_dataset_encode_words"),
          "ar_dataset_encode on words: %s", err);
    /* not token data */
    struct ar_dataset *text = NULL;
    const char *t = "{\"text\": \"a\", \"label\": 0}\n";
    CHECK(ar_dataset_read_buffer("t.jsonl", t, strlen(t), NULL, &text, err, sizeof err) == 0,
          "read text");
    CHECK(ar_dataset_encode_words(text, toy_words, NULL, 8, &set, err, sizeof err) ==
                  AR_STATUS_INVALID_ARGUMENT &&
              strstr(err, "not token classification data"),
          "refused: %s", err);
    ar_dataset_free(text);
    ar_dataset_free(ds);
}

/* Words through a real tokenizer; compares ids, word ids and the types (0). */
static void expect_words(struct ar_tokenizer *tok, const char *const *words, int n, int max_len,
                         const int32_t *want_ids, const int32_t *want_words, int want_len)
{
    int32_t ids[64], types[64], wids[64];
    int len = 0;
    enum ar_status st = ar_dataset_tokenizer_encode_words(tok, words, n, max_len, ids, types,
                                                          wids, &len, err, sizeof err);
    CHECK(st == AR_STATUS_OK && len == want_len, "%s…: %d tokens, want %d (%s)", words[0], len,
          want_len, err);
    for (int t = 0; st == AR_STATUS_OK && t < len && t < want_len; t++)
        CHECK(ids[t] == want_ids[t] && wids[t] == want_words[t] && types[t] == 0,
              "%s…: token %d: id %d word %d, want %d word %d", words[0], t, ids[t], wids[t],
              want_ids[t], want_words[t]);
}

static void wordpiece(void)
{
    const char *dir = getenv("ADARANK_MODEL_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir ? dir : "");
    struct ar_tokenizer *tok = NULL;
    if (!dir || ar_tokenizer_load(path, &tok, err, sizeof err) != AR_STATUS_OK) {
        test_model_missing("wordpiece");
        return;
    }
    const char *w1[] = {"Peter", "Blackburn", "of", "the", "U.S.", "met", "Müller", "in",
                        "Zürich-West"};
    const int32_t ids1[] = {101,  2848, 13934, 1997, 1996,  1057, 1012, 1055,
                            1012, 2777, 12304, 1999, 10204, 1011, 2225, 102};
    const int32_t wid1[] = {-1, 0, 1, 2, 3, 4, 4, 4, 4, 5, 6, 7, 8, 8, 8, -1};
    expect_words(tok, w1, 9, 64, ids1, wid1, 16);
    /* truncation=True, max_length=8: [101, 2848, 13934, 1997, 1996, 1057, 1012, 102] */
    const int32_t ids2[] = {101, 2848, 13934, 1997, 1996, 1057, 1012, 102};
    const int32_t wid2[] = {-1, 0, 1, 2, 3, 4, 4, -1};
    expect_words(tok, w1, 9, 8, ids2, wid2, 8);
    const char *w3[] = {"Kensington", "unaffable", "GmbH", "sold"};
    const int32_t ids3[] = {101, 17775, 14477, 20961, 3468, 18289, 2853, 102};
    const int32_t wid3[] = {-1, 0, 1, 1, 1, 2, 3, -1};
    expect_words(tok, w3, 4, 64, ids3, wid3, 8);
    int32_t ids[4], types[4], wids[4];
    int len = 0;
    CHECK(ar_dataset_tokenizer_encode_words(tok, w3, 4, 1, ids, types, wids, &len, err,
                                            sizeof err) == AR_STATUS_INVALID_ARGUMENT,
          "max_len 1 cannot hold [CLS] [SEP]");
    ar_tokenizer_free(tok);
}

/* Byte-level BPE: every word gets a leading space, so split words encode like the text
 * " EU rejects German" (add_prefix_space=True), word by word. */
static void byte_level(void)
{
    char path[1024];
    const char *root = getenv("ADARANK_TEST_DATA");
    snprintf(path, sizeof path, "%s/fixtures/bpe_tokenizer_roberta.json", root ? root : "tests");
    struct ar_tokenizer *tok = NULL;
    CHECK(ar_tokenizer_load(path, &tok, err, sizeof err) == AR_STATUS_OK, "load: %s", err);
    if (!tok)
        return;
    const char *words[] = {"EU", "rejects", "German"};
    const char *text = " EU rejects German";
    int32_t want[64], ids[64], types[64], wids[64];
    int n_want = 0, len = 0;
    CHECK(ar_tokenizer_encode(tok, text, strlen(text), NULL, 0, 64, want, NULL, &n_want, err,
                              sizeof err) == AR_STATUS_OK,
          "encode: %s", err);
    CHECK(ar_dataset_tokenizer_encode_words(tok, words, 3, 64, ids, types, wids, &len, err,
                                            sizeof err) == AR_STATUS_OK &&
              len == n_want,
          "%d tokens, want %d (%s)", len, n_want, err);
    for (int t = 0; t < len && t < n_want; t++)
        CHECK(ids[t] == want[t], "token %d: %d want %d", t, ids[t], want[t]);
    const char *first = ar_tokenizer_token(tok, ids[1]);
    CHECK(first && !strncmp(first, "\xC4\xA0", 2), "the first word has its space too: %s",
          first ? first : "?");
    CHECK(wids[0] == -1 && wids[1] == 0 && wids[len - 1] == -1, "word ids");
    ar_tokenizer_free(tok);
}

int main(void)
{
    reader();
    bad_rows();
    alignment();
    wordpiece();
    byte_level();
    return test_finish("dataset_tokens");
}

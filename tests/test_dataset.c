/* Data files: TSV/CSV/JSONL parsing (quoting, multi-line fields), bad rows with FILE:LINE,
 * labels, tokenizing through an encoder, the validation split, per-epoch shuffles and padding. */
#include "test.h"

#include "adarank/dataset.h"

static char err[4096];

static struct ar_dataset *read_text(const char *name, const char *text,
                                    const struct ar_dataset_params *p, enum ar_status *st)
{
    struct ar_dataset *ds = NULL;
    err[0] = '\0';
    *st = ar_dataset_read_buffer(name, text, strlen(text), p, &ds, err, sizeof err);
    return ds;
}

static struct ar_dataset *read_ok(const char *name, const char *text,
                                  const struct ar_dataset_params *p)
{
    enum ar_status st;
    struct ar_dataset *ds = read_text(name, text, p, &st);
    CHECK(st == AR_STATUS_OK && ds, "%s: %s: %s", name, ar_status_name(st), err);
    return ds;
}

/* Reading must fail with BAD_FORMAT (or `want`) and a message containing `needle`. */
static void read_bad(const char *name, const char *text, const struct ar_dataset_params *p,
                     enum ar_status want, const char *needle)
{
    enum ar_status st;
    struct ar_dataset *ds = read_text(name, text, p, &st);
    CHECK(st == want, "%s: got %s, want %s (%s)", name, ar_status_name(st), ar_status_name(want),
          err);
    CHECK(ds == NULL, "%s: no dataset on failure", name);
    CHECK(strstr(err, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", name, err, needle);
    ar_dataset_free(ds);
}

static void test_tsv(void)
{
    /* A review that starts with a quote is plain text in TSV; CRLF and blank lines are fine. */
    const char *text = "label\ttext\r\n0\t\"Great\" is not what I'd say, \"meh\"\r\n\r\n"
                       "1\tlovely\n1\tcafé crème\n";
    struct ar_dataset *ds = read_ok("a.tsv", text, NULL);
    if (!ds)
        return;
    CHECK(ds->count == 3, "count %d", ds->count);
    CHECK(ds->format == AR_DATASET_FORMAT_TSV, "format %d", ds->format);
    CHECK(ds->columns == AR_DATASET_COLUMNS_TEXT, "columns %d", ds->columns);
    CHECK(!strcmp(ds->examples[0].text, "\"Great\" is not what I'd say, \"meh\""), "text [%s]",
          ds->examples[0].text);
    CHECK(ds->examples[0].text_b == NULL, "no text_b");
    CHECK(ds->integer_labels && ds->num_labels == 2, "integer labels, %d", ds->num_labels);
    CHECK(ds->examples[0].label == 0 && ds->examples[1].label == 1, "labels");
    CHECK(ds->examples[2].line == 5, "line of row 3: %d (blank line 3 counted)",
          ds->examples[2].line);
    CHECK(!strcmp(ds->examples[2].text, "café crème"), "UTF-8 kept");
    ar_dataset_free(ds);
}

static void test_csv(void)
{
    /* RFC 4180: commas and doubled quotes inside quotes, a field over three lines, CRLF. */
    const char *text = "id,text,label\r\n"
                       "1,\"Hello, world\",pos\r\n"
                       "2,\"She said \"\"no\"\".\",neg\r\n"
                       "3,\"line one\nline two\nline three\",pos\r\n"
                       "4,plain \"inner\" quote,neutral\r\n"
                       "5,,neg";
    struct ar_dataset *ds = read_ok("b.csv", text, NULL);
    if (!ds)
        return;
    CHECK(ds->count == 5, "count %d", ds->count);
    CHECK(!strcmp(ds->examples[0].text, "Hello, world"), "[%s]", ds->examples[0].text);
    CHECK(!strcmp(ds->examples[1].text, "She said \"no\"."), "[%s]", ds->examples[1].text);
    CHECK(!strcmp(ds->examples[2].text, "line one\nline two\nline three"), "multi-line");
    CHECK(ds->examples[2].line == 4 && ds->examples[3].line == 7, "lines %d %d",
          ds->examples[2].line, ds->examples[3].line);
    CHECK(!strcmp(ds->examples[3].text, "plain \"inner\" quote"), "[%s]", ds->examples[3].text);
    CHECK(!strcmp(ds->examples[4].text, ""), "empty text is allowed");
    /* names sorted: neg 0, neutral 1, pos 2 */
    CHECK(!ds->integer_labels && ds->num_labels == 3, "names, %d", ds->num_labels);
    CHECK(ds->num_labels == 3 && !strcmp(ds->label_names[0], "neg") &&
              !strcmp(ds->label_names[1], "neutral") && !strcmp(ds->label_names[2], "pos"),
          "sorted names");
    CHECK(ds->examples[0].label == 2 && ds->examples[1].label == 0 &&
              ds->examples[3].label == 1,
          "ids %d %d %d", ds->examples[0].label, ds->examples[1].label, ds->examples[3].label);
    ar_dataset_free(ds);

    /* A given label list fixes the ids, in the list's order. */
    const char *const labels[] = {"pos", "neg", "neutral"};
    struct ar_dataset_params p = ar_dataset_default_params();
    p.labels = labels, p.label_count = 3;
    ds = read_ok("b.csv", text, &p);
    if (ds) {
        CHECK(ds->examples[0].label == 0 && ds->examples[1].label == 1 &&
                  ds->examples[3].label == 2,
              "list order");
        ar_dataset_free(ds);
    }
}

static void test_jsonl(void)
{
    const char *text = "{\"text\": \"good\", \"label\": 1, \"extra\": [1, 2]}\n"
                       "\n"
                       "{\"label\": 0, \"text\": \"bad \\u00e9\"}\n";
    struct ar_dataset *ds = read_ok("c.jsonl", text, NULL);
    if (ds) {
        CHECK(ds->count == 2 && ds->integer_labels && ds->num_labels == 2, "jsonl");
        CHECK(ds->count == 2 && !strcmp(ds->examples[1].text, "bad é") &&
                  ds->examples[1].line == 3,
              "escape, line");
        ar_dataset_free(ds);
    }
    const char *pairs = "{\"text_a\": \"a cat\", \"text_b\": \"a dog\", \"label\": \"no\"}\n"
                        "{\"text_a\": \"x\", \"text_b\": \"x\", \"label\": \"yes\"}\n";
    ds = read_ok("d.jsonl", pairs, NULL);
    if (ds) {
        CHECK(ds->columns == AR_DATASET_COLUMNS_PAIR, "pairs");
        CHECK(!strcmp(ds->examples[0].text_b, "a dog") && ds->examples[1].label == 1, "pair");
        ar_dataset_free(ds);
    }
    const char *gen = "{\"prompt\": \"2+2=\", \"completion\": \"4\"}\n";
    ds = read_ok("e.jsonl", gen, NULL);
    if (ds) {
        CHECK(ds->columns == AR_DATASET_COLUMNS_PROMPT && ds->num_labels == 0, "prompt");
        CHECK(ds->examples[0].label == -1 && !strcmp(ds->examples[0].text_b, "4"), "completion");
        ar_dataset_free(ds);
    }
    /* Named columns through the params. */
    struct ar_dataset_params p = ar_dataset_default_params();
    p.text_column = "review", p.label_column = "stars";
    ds = read_ok("f.tsv", "stars\treview\n5\tyum\n1\tyuck\n", &p);
    if (ds) {
        CHECK(ds->num_labels == 6 && ds->examples[0].label == 5, "custom columns");
        ar_dataset_free(ds);
    }
}

static void test_bad_rows(void)
{
    read_bad("g.tsv", "label\ttext\n1\tfine\n0\ttoo\tmany\n1\tok\n", NULL, AR_STATUS_BAD_FORMAT,
             "g.tsv:3: expected 2 fields");
    read_bad("h.tsv", "label\ttext\n1\tok\n1\tbad \xC3\x28 byte\n", NULL, AR_STATUS_BAD_FORMAT,
             "h.tsv:3: column 'text' is not valid UTF-8");
    read_bad("i.csv", "text,label\n\"never closed,1\n", NULL, AR_STATUS_BAD_FORMAT,
             "i.csv:2: quoted field opened on line 2 is never closed");
    read_bad("j.jsonl", "{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\"}\n", NULL,
             AR_STATUS_BAD_FORMAT, "j.jsonl:2: no \"label\" member");
    read_bad("k.jsonl", "{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\", \"label\": 1\n",
             NULL, AR_STATUS_BAD_FORMAT, "k.jsonl:2: invalid JSON");
    read_bad("l.tsv", "label\tbody\n1\tx\n", NULL, AR_STATUS_BAD_FORMAT,
             "l.tsv:1: no known column set in the header (label, body)");
    struct ar_dataset_params p = ar_dataset_default_params();
    p.label_column = "y";
    read_bad("m.tsv", "label\ttext\n1\tx\n", &p, AR_STATUS_BAD_FORMAT,
             "m.tsv:1: no column 'y' in the header (columns: label, text)");
    read_bad("n.tsv", "label\ttext\n\t x\n", NULL, AR_STATUS_BAD_FORMAT,
             "n.tsv:2: column 'label' is empty");
    read_bad("o.tsv", "", NULL, AR_STATUS_BAD_FORMAT, "o.tsv: the file is empty");
    read_bad("p.tsv", "label\ttext\n", NULL, AR_STATUS_BAD_FORMAT, "p.tsv: no examples");
    read_bad("q.xyz", "label\ttext\n1\tx\n", NULL, AR_STATUS_INVALID_ARGUMENT,
             "cannot tell the format");
    read_bad("r.tsv", "label\ttext\n99999\tx\n", NULL, AR_STATUS_BAD_FORMAT,
             "r.tsv:2: integer label 99999 is above the limit");

    const char *const labels[] = {"0", "1"};
    p = ar_dataset_default_params();
    p.labels = labels, p.label_count = 2;
    const char *three = "label\ttext\n1\ta\n2\tb\n0\tc\n1\td\tx\n\xff\te\n";
    read_bad("s.tsv", three, &p, AR_STATUS_BAD_FORMAT, "s.tsv:3: unknown label \"2\"");
    read_bad("s.tsv", three, &p, AR_STATUS_BAD_FORMAT, "s.tsv:5: expected 2 fields");
    read_bad("s.tsv", three, &p, AR_STATUS_BAD_FORMAT, "s.tsv:6: column 'label' is not valid");
    read_bad("s.tsv", three, &p, AR_STATUS_BAD_FORMAT, "s.tsv: 3 bad rows");

    /* skip_bad_rows: the good rows stay, the bad ones are counted and reported. */
    p.skip_bad_rows = true;
    struct ar_dataset *ds = read_ok("s.tsv", three, &p);
    if (ds) {
        CHECK(ds->count == 2 && ds->skipped == 3, "kept %d skipped %d", ds->count, ds->skipped);
        CHECK(ds->skip_report && strstr(ds->skip_report, "s.tsv:3: unknown label"), "report");
        CHECK(ds->examples[1].line == 4 && ds->examples[1].label == 0, "the good rows");
        ar_dataset_free(ds);
    }
}

/* A toy encoder: [CLS]=1, one id per byte (byte + 10), [SEP]=2; text_b gets type 1. */
static enum ar_status toy_encode(void *user, const char *a, const char *b, int max_len,
                                 int32_t *ids, int32_t *types, int *len, char *e, size_t es)
{
    (void)user;
    if (max_len < 2) {
        snprintf(e, es, "too short");
        return AR_STATUS_INVALID_ARGUMENT;
    }
    int n = 0;
    ids[n] = 1, types[n++] = 0;
    for (const char *s = a; *s && n < max_len - 1; s++)
        ids[n] = 10 + (unsigned char)*s, types[n++] = 0;
    for (const char *s = b; s && *s && n < max_len - 1; s++)
        ids[n] = 10 + (unsigned char)*s, types[n++] = 1;
    ids[n] = 2, types[n++] = b ? 1 : 0;
    *len = n;
    return AR_STATUS_OK;
}

static void test_encode_pad(void)
{
    const char *text = "label\ttext\n0\tab\n1\tabcdefgh\n0\t\n1\tabcd\n";
    struct ar_dataset *ds = read_ok("t.tsv", text, NULL);
    if (!ds)
        return;
    struct ar_encoded *set = NULL;
    CHECK(ar_dataset_encode(ds, toy_encode, NULL, 6, &set, err, sizeof err) == AR_STATUS_OK,
          "encode: %s", err);
    if (set) {
        CHECK(set->count == 4 && set->max_len == 6 && set->truncated == 1, "max %d trunc %d",
              set->max_len, set->truncated);
        CHECK(ar_encoded_length(set, 0) == 4 && ar_encoded_length(set, 2) == 2, "lengths");
        CHECK(set->ids[set->offsets[1] + 5] == 2, "[SEP] kept at the cut");
        int rows[] = {2, 0, 3};
        struct ar_padded_batch b = {0};
        CHECK(ar_padded_batch_fill(&b, set, rows, 3, 99) == AR_STATUS_OK, "fill");
        CHECK(b.batch == 3 && b.time == 6, "padded to the longest in the batch: %d", b.time);
        CHECK(b.tokens == 2 + 4 + 6, "tokens %zu", b.tokens);
        CHECK(b.ids[0] == 1 && b.ids[1] == 2 && b.ids[2] == 99 && b.ids[5] == 99, "row 0 pad");
        CHECK(b.attn_mask[1] == 1 && b.attn_mask[2] == 0 && b.attn_mask[6 + 3] == 1 &&
                  b.attn_mask[6 + 4] == 0,
              "mask");
        CHECK(b.labels[0] == 0 && b.labels[2] == 1, "labels");
        int two[] = {0, 2};
        CHECK(ar_padded_batch_fill(&b, set, two, 2, 0) == AR_STATUS_OK && b.time == 4,
              "a shorter batch is shorter: %d", b.time);
        int badrow[] = {7};
        CHECK(ar_padded_batch_fill(&b, set, badrow, 1, 0) == AR_STATUS_INVALID_ARGUMENT,
              "row out of range");
        ar_padded_batch_free(&b);
        ar_encoded_free(set);
    }
    set = NULL;
    CHECK(ar_dataset_encode(ds, toy_encode, NULL, 1, &set, err, sizeof err) ==
                  AR_STATUS_INVALID_ARGUMENT &&
              strstr(err, "t.tsv:2: cannot tokenize: too short"),
          "encoder failure names the row: %s", err);
    ar_dataset_free(ds);
}

static bool same_lines(const struct ar_encoded *a, const struct ar_encoded *b)
{
    if (a->count != b->count)
        return false;
    for (int i = 0; i < a->count; i++)
        if (a->lines[i] != b->lines[i])
            return false;
    return true;
}

static void test_split_shuffle(void)
{
    char text[8192] = "label\ttext\n";
    for (int i = 0; i < 200; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%d\trow %d\n", i % 2, i);
    struct ar_dataset *ds = read_ok("u.tsv", text, NULL);
    struct ar_encoded *set = NULL;
    if (!ds || ar_dataset_encode(ds, toy_encode, NULL, 16, &set, err, sizeof err)) {
        CHECK(0, "setup: %s", err);
        ar_dataset_free(ds);
        return;
    }
    struct ar_encoded *tr1, *va1, *tr2, *va2, *tr3, *va3;
    CHECK(ar_encoded_split(set, 0.1, 7, &tr1, &va1, err, sizeof err) == AR_STATUS_OK, "split");
    CHECK(ar_encoded_split(set, 0.1, 7, &tr2, &va2, err, sizeof err) == AR_STATUS_OK, "split");
    CHECK(ar_encoded_split(set, 0.1, 8, &tr3, &va3, err, sizeof err) == AR_STATUS_OK, "split");
    CHECK(va1->count == 20 && tr1->count == 180, "sizes %d %d", va1->count, tr1->count);
    CHECK(same_lines(va1, va2) && same_lines(tr1, tr2), "same seed, same split");
    CHECK(!same_lines(va1, va3), "another seed, another split");
    /* disjoint, complete, each in file order */
    char seen[210] = {0};
    bool ordered = true;
    for (int i = 0; i < va1->count; i++) {
        seen[va1->lines[i]]++;
        ordered &= i == 0 || va1->lines[i] > va1->lines[i - 1];
    }
    for (int i = 0; i < tr1->count; i++) {
        seen[tr1->lines[i]]++;
        ordered &= i == 0 || tr1->lines[i] > tr1->lines[i - 1];
    }
    int once = 0;
    for (int l = 2; l < 202; l++)
        once += seen[l] == 1;
    CHECK(once == 200 && ordered, "a partition in file order (%d)", once);
    CHECK(ar_encoded_length(va1, 0) == ar_encoded_length(set, va1->lines[0] - 2) &&
              va1->labels[0] == set->labels[va1->lines[0] - 2],
          "copied rows match");
    struct ar_encoded *x = NULL, *y = NULL;
    CHECK(ar_encoded_split(set, 1.0, 7, &x, &y, err, sizeof err) == AR_STATUS_INVALID_ARGUMENT &&
              strstr(err, "(0, 1)"),
          "fraction 1 refused: %s", err);
    ar_encoded_free(tr1), ar_encoded_free(va1), ar_encoded_free(tr2), ar_encoded_free(va2);
    ar_encoded_free(tr3), ar_encoded_free(va3);

    int p1[200], p2[200], p3[200], count[200] = {0};
    ar_dataset_permutation(200, 42, 3, p1);
    ar_dataset_permutation(200, 42, 3, p2);
    ar_dataset_permutation(200, 42, 4, p3);
    bool same = true, diff = false, in_place = true;
    for (int i = 0; i < 200; i++) {
        count[p1[i]]++;
        same &= p1[i] == p2[i];
        diff |= p1[i] != p3[i];
        in_place &= p1[i] == i;
    }
    int ones = 0;
    for (int i = 0; i < 200; i++)
        ones += count[i] == 1;
    CHECK(ones == 200, "a permutation");
    CHECK(same && diff && !in_place, "reproducible from (seed, epoch), different per epoch");
    ar_encoded_free(set);
    ar_dataset_free(ds);
}

/* The real data: 4,000 training reviews, 1,400 of class 0 (data/fine-foods/README.md). */
static void test_fine_foods(void)
{
    const char *dir = getenv("ADARANK_TEST_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/../data/fine-foods/train.tsv", dir ? dir : "tests");
    struct ar_dataset *ds = NULL;
    enum ar_status st = ar_dataset_read(path, NULL, &ds, err, sizeof err);
    CHECK(st == AR_STATUS_OK, "%s", err);
    if (!ds)
        return;
    int zeros = 0;
    for (int i = 0; i < ds->count; i++)
        zeros += ds->examples[i].label == 0;
    CHECK(ds->count == 4000 && zeros == 1400 && ds->num_labels == 2, "count %d zeros %d",
          ds->count, zeros);
    ar_dataset_free(ds);
    CHECK(ar_dataset_read("/nonexistent/x.tsv", NULL, &ds, err, sizeof err) ==
                  AR_STATUS_NOT_FOUND &&
              strstr(err, "/nonexistent/x.tsv: "),
          "missing file: %s", err);
}

int main(void)
{
    test_tsv();
    test_csv();
    test_jsonl();
    test_bad_rows();
    test_encode_pad();
    test_split_shuffle();
    test_fine_foods();
    return test_finish("dataset");
}

/* The predictions file of `adarank-cl eval --predictions` (core/eval_predictions.h), without a
 * device: given outputs whose values are known, the lines must be exactly these, byte for byte.
 *   token-cls  a toy encoder cuts words into 2-byte pieces; the first piece of every word gets a
 *              different prediction from the others, so the file must show the first piece's;
 *              a word without pieces and words cut by truncation are null;
 *   seq-cls    text, text_b, the gold label, the prediction and the probabilities;
 *   causal-lm  the prompt, the completion, the loss (NaN: null) and the token count;
 *   failures   a missing folder fails at open with the reason, a folder in the file's place at
 *              commit; neither leaves a file, and an older file stays as it was. */
#include <dirent.h>
#include <sys/stat.h>

#include "eval_predictions.h"
#include "test.h"
#include "toy_data.h"

static char err[1024];
static const char *dir;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    return text;
}

/* Whether the scratch folder holds a leftover temporary file. */
static bool tmp_left(void)
{
    DIR *d = opendir(dir);
    bool found = false;
    for (struct dirent *e; d && (e = readdir(d));)
        found |= strstr(e->d_name, ".tmp.") != NULL;
    if (d)
        closedir(d);
    return found;
}

static struct ar_dataset *read_data(const char *name, const char *text, const char *const *labels,
                                    int n_labels)
{
    struct ar_dataset_params p = ar_dataset_default_params();
    p.labels = labels, p.label_count = n_labels;
    struct ar_dataset *ds = NULL;
    enum ar_status st = ar_dataset_read_buffer(name, text, strlen(text), &p, &ds, err, sizeof err);
    CHECK(st == AR_STATUS_OK && ds, "%s: %s", name, err);
    return ds;
}

/* Writes src to dir/name and compares the file with want. */
static void check_file(const char *name, const struct ar__predictions_source *src,
                       const char *want)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct ar__predictions_file pf;
    enum ar_status st = ar__predictions_open(path, &pf, err, sizeof err);
    CHECK(st == AR_STATUS_OK, "open: %s", err);
    if (st != AR_STATUS_OK)
        return;
    st = ar__predictions_commit(&pf, src, err, sizeof err);
    CHECK(st == AR_STATUS_OK, "commit: %s", err);
    const char *got = slurp(path);
    CHECK(got && !strcmp(got, want), "%s:\n got:\n%s\nwant:\n%s", name, got ? got : "(none)",
          want);
    CHECK(!tmp_left(), "%s: a temporary file is left", name);
}

static const char *const tags[] = {"B-PER", "I-PER", "O"};

static void token_lines(int max_len, const char *want)
{
    /* "" has no pieces; "Peter" is Pe te r, "Blackburn" Bl ac kb ur n */
    const char *data = "{\"tokens\": [\"Peter\", \"Blackburn\", \"\", \"ran\"], "
                       "\"ner_tags\": [\"B-PER\", \"I-PER\", \"O\", \"O\"]}\n"
                       "{\"tokens\": [\"go\"], \"ner_tags\": [\"O\"]}\n";
    struct ar_dataset *ds = read_data("t.jsonl", data, tags, 3);
    struct ar_encoded *set = NULL;
    if (ds)
        CHECK(ar_dataset_encode_words(ds, toy_words, NULL, max_len, &set, err, sizeof err) ==
                  AR_STATUS_OK,
              "encode: %s", err);
    if (!set) {
        ar_dataset_free(ds);
        return;
    }
    /* every token's "argmax": word w's first piece says tag w % 3, its other pieces the next tag
     * and the specials I-PER, so a prediction taken from another piece shows in the file */
    int32_t *pred = malloc((size_t)set->offsets[set->count] * sizeof *pred);
    int32_t ids[64], types[64], wid[64];
    const char *words[4];
    for (int i = 0; pred && i < set->count; i++) {
        const char *w = ds->examples[i].text;
        for (int j = 0; j < ds->examples[i].words; j++, w += strlen(w) + 1)
            words[j] = w;
        int len = 0;
        toy_words(NULL, words, ds->examples[i].words, max_len, ids, types, wid, &len, err,
                  sizeof err);
        for (int t = 0; t < len; t++) {
            bool first = wid[t] >= 0 && (t == 0 || wid[t - 1] != wid[t]);
            pred[set->offsets[i] + t] = wid[t] < 0 ? 1 : (wid[t] + !first) % 3;
        }
    }
    struct ar_eval_outputs outs = {.token_predictions = pred};
    struct ar__predictions_source src = {.task = AR_TASK_TOKEN_CLS, .ds = ds, .set = set,
                                         .outs = &outs, .encode_words = toy_words,
                                         .max_len = max_len};
    char name[32];
    snprintf(name, sizeof name, "tokens%d.jsonl", max_len);
    if (pred)
        check_file(name, &src, want);
    /* the set of another max length: the tokens no longer map to the words */
    src.max_len = max_len > 5 ? 5 : 32;
    struct ar__predictions_file pf;
    char path[4096];
    snprintf(path, sizeof path, "%s/mismatch.jsonl", dir);
    if (pred && ar__predictions_open(path, &pf, err, sizeof err) == AR_STATUS_OK)
        CHECK(ar__predictions_commit(&pf, &src, err, sizeof err) == AR_STATUS_INVALID_ARGUMENT &&
                  strstr(err, "mismatch.jsonl: cannot write: example 0: cannot map its tokens"),
              "a set of another length: %s", err);
    struct stat sb;
    CHECK(stat(path, &sb) != 0 && !tmp_left(), "a failed commit leaves no file");
    free(pred);
    ar_encoded_free(set);
    ar_dataset_free(ds);
}

static void seq_and_lm_lines(void)
{
    const char *const classes[] = {"neg", "pos"};
    struct ar_dataset *ds = read_data("p.tsv", "text_a\ttext_b\tlabel\nsay \"hi\"\tthere\tpos\n"
                                               "tab\\t\tnew\tneg\n",
                                      classes, 2);
    int32_t pred[2] = {0, 0};
    float probs[4] = {0.75f, 0.25f, 0.5f, 0.5f};
    struct ar_eval_outputs outs = {.predictions = pred, .probabilities = probs};
    struct ar__predictions_source src = {.task = AR_TASK_SEQ_CLS, .ds = ds, .outs = &outs};
    if (ds)
        check_file("seq.jsonl", &src,
                   "{\"index\":0,\"text\":\"say \\\"hi\\\"\",\"text_b\":\"there\",\"label\":\"pos\","
                   "\"prediction\":\"neg\",\"probabilities\":[0.75,0.25]}\n"
                   "{\"index\":1,\"text\":\"tab\\\\t\",\"text_b\":\"new\",\"label\":"
                   "\"neg\",\"prediction\":\"neg\",\"probabilities\":[0.5,0.5]}\n");
    ar_dataset_free(ds);

    ds = read_data("lm.jsonl", "{\"prompt\": \"Q?\", \"completion\": \" A.\"}\n"
                               "{\"prompt\": \"R?\", \"completion\": \"\"}\n",
                   NULL, 0);
    double losses[2] = {1.5, NAN};
    int32_t tokens[2] = {4, 0};
    struct ar_eval_outputs lm = {.losses = losses, .tokens = tokens};
    struct ar__predictions_source lsrc = {.task = AR_TASK_CAUSAL_LM, .ds = ds, .outs = &lm};
    if (ds)
        check_file("lm.jsonl", &lsrc,
                   "{\"index\":0,\"prompt\":\"Q?\",\"completion\":\" A.\",\"loss\":1.5,"
                   "\"tokens\":4}\n"
                   "{\"index\":1,\"prompt\":\"R?\",\"completion\":\"\",\"loss\":null,"
                   "\"tokens\":0}\n");
    ar_dataset_free(ds);
}

static void failures(void)
{
    char path[4096];
    struct ar__predictions_file pf;
    struct stat sb;
    /* a missing folder: at open, before any evaluation */
    snprintf(path, sizeof path, "%s/nowhere/p.jsonl", dir);
    CHECK(ar__predictions_open(path, &pf, err, sizeof err) == AR_STATUS_IO &&
              strstr(err, "nowhere/p.jsonl: cannot create: No such file or directory"),
          "missing folder: %s", err);
    snprintf(path, sizeof path, "%s/nowhere", dir);
    CHECK(stat(path, &sb) != 0, "missing folder: nothing is made");
    /* a folder in the file's place: the rename fails; the temporary file goes */
    snprintf(path, sizeof path, "%s/adir", dir);
    mkdir(path, 0755);
    const char *const classes[] = {"a"};
    struct ar_dataset *ds = read_data("x.tsv", "text\tlabel\nx\ta\n", classes, 1);
    int32_t pred[1] = {0};
    float probs[1] = {1};
    struct ar_eval_outputs outs = {.predictions = pred, .probabilities = probs};
    struct ar__predictions_source src = {.task = AR_TASK_SEQ_CLS, .ds = ds, .outs = &outs};
    if (ds && ar__predictions_open(path, &pf, err, sizeof err) == AR_STATUS_OK) {
        CHECK(tmp_left(), "open makes the temporary file");
        CHECK(ar__predictions_commit(&pf, &src, err, sizeof err) == AR_STATUS_IO &&
                  strstr(err, "adir: cannot write: Is a directory"),
              "folder in the way: %s", err);
        CHECK(!tmp_left() && !pf.af.f && !pf.af.tmp, "folder in the way: nothing is left");
    }
    /* abort (a failed evaluation) leaves an older file as it was */
    snprintf(path, sizeof path, "%s/old.jsonl", dir);
    FILE *f = fopen(path, "w");
    if (f)
        fputs("old\n", f), fclose(f);
    CHECK(ar__predictions_open(path, &pf, err, sizeof err) == AR_STATUS_OK, "open: %s", err);
    ar__predictions_abort(&pf);
    ar__predictions_abort(&pf); /* twice is fine */
    const char *got = slurp(path);
    CHECK(got && !strcmp(got, "old\n") && !tmp_left(), "abort keeps the older file");
    ar_dataset_free(ds);
}

int main(void)
{
    if (!(dir = test_tmpdir("eval-predictions")))
        return 1;
    /* word 0 on its first piece Pe: 0 → B-PER (Blackburn's first piece Bl: 1 → I-PER); "" has
     * no piece; ran: 3 % 3 → B-PER */
    token_lines(32, "{\"index\":0,\"words\":[\"Peter\",\"Blackburn\",\"\",\"ran\"],\"tags\":"
                    "[\"B-PER\",\"I-PER\",\"O\",\"O\"],\"predicted\":[\"B-PER\",\"I-PER\",null,"
                    "\"B-PER\"]}\n"
                    "{\"index\":1,\"words\":[\"go\"],\"tags\":[\"O\"],\"predicted\":[\"B-PER\"]}\n");
    /* 5 tokens: [CLS] Pe te r Bl… cut: [CLS] Pe te r [SEP]; Blackburn and ran are cut */
    token_lines(5, "{\"index\":0,\"words\":[\"Peter\",\"Blackburn\",\"\",\"ran\"],\"tags\":"
                   "[\"B-PER\",\"I-PER\",\"O\",\"O\"],\"predicted\":[\"B-PER\",null,null,null]}\n"
                   "{\"index\":1,\"words\":[\"go\"],\"tags\":[\"O\"],\"predicted\":[\"B-PER\"]}\n");
    seq_and_lm_lines();
    failures();
    return test_finish("eval_predictions");
}

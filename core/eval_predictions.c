/* Per-example predictions as JSONL, written durably (eval_predictions.h). Lines are built one at
 * a time in a JSON buffer and streamed to the temporary file, so a large evaluation set never
 * needs the whole file in memory. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "eval_predictions.h"
#include "internal.h"
#include "json.h"

enum ar_status ar__predictions_open(const char *path, struct ar__predictions_file *pf, char *err,
                                    size_t err_size)
{
    return ar__atomic_open(&pf->af, path, err, err_size);
}

void ar__predictions_abort(struct ar__predictions_file *pf)
{
    ar__atomic_abort(&pf->af);
}

/* ---- one line per task ------------------------------------------------------------------- */

/* Class id → its name; null for an id out of range (a word without a prediction). */
static void write_name(struct ar__json_buf *b, const char *const *names, int k, int32_t id)
{
    if (id >= 0 && id < k)
        ar__json_write_string(b, names[id]);
    else
        ar__json_put(b, "null");
}

static void names_list(struct ar__json_buf *b, const char *const *names, int k, const int32_t *ids,
                       int n)
{
    ar__json_put(b, "[");
    for (int j = 0; j < n; j++) {
        ar__json_comma(b);
        write_name(b, names, k, ids[j]);
    }
    ar__json_put(b, "]");
}

static void seq_line(struct ar__json_buf *b, const struct ar__predictions_source *s, int i)
{
    const struct ar_example *e = &s->ds->examples[i];
    const char *const *names = (const char *const *)s->ds->label_names;
    int k = s->ds->num_labels;
    ar__json_write_key(b, "text");
    ar__json_write_string(b, e->text);
    if (e->text_b) {
        ar__json_write_key(b, "text_b");
        ar__json_write_string(b, e->text_b);
    }
    if (e->label >= 0 && e->label < k) {
        ar__json_write_key(b, "label");
        ar__json_write_string(b, names[e->label]);
    }
    ar__json_write_key(b, "prediction");
    write_name(b, names, k, s->outs->predictions[i]);
    ar__json_write_key(b, "probabilities");
    ar__json_put(b, "[");
    for (int c = 0; c < k; c++) {
        ar__json_comma(b);
        ar__json_write_float(b, s->outs->probabilities[(size_t)i * (size_t)k + (size_t)c]);
    }
    ar__json_put(b, "]");
}

/* The words of TOKEN_CLS example e, one after the other from e->text, into words[0..e->words). */
static void split_words(const struct ar_example *e, const char **words)
{
    const char *w = e->text;
    for (int j = 0; j < e->words; j++, w += strlen(w) + 1)
        words[j] = w;
}

/* Scratch for mapping tokens back to words: max_len tokens, the most words of any row. */
struct word_map {
    int32_t *ids, *types, *word_ids, *pred;
    const char **words;
};

static enum ar_status token_line(struct ar__json_buf *b, const struct ar__predictions_source *s,
                                 int i, struct word_map *m, char *err, size_t err_size)
{
    const struct ar_example *e = &s->ds->examples[i];
    const char *const *names = (const char *const *)s->ds->label_names;
    split_words(e, m->words);
    int len = 0;
    char why[256] = "";
    enum ar_status st = s->encode_words(s->user, m->words, e->words, s->max_len, m->ids, m->types,
                                        m->word_ids, &len, why, sizeof why);
    if (st == AR_STATUS_OK && len != ar_encoded_length(s->set, i)) { /* a caller's mix-up */
        snprintf(why, sizeof why, "%d tokens, evaluated %d", len, ar_encoded_length(s->set, i));
        st = AR_STATUS_INVALID_ARGUMENT;
    }
    if (st != AR_STATUS_OK)
        return ar__fail_buf(err, err_size, st, "example %d: cannot map its tokens to words: %s", i,
                            why);
    /* a word's prediction is the one on its first sub-token, the token its tag was put on */
    const int32_t *tp = s->outs->token_predictions + s->set->offsets[i];
    for (int j = 0; j < e->words; j++)
        m->pred[j] = -1;
    for (int t = 0; t < len; t++) {
        int w = m->word_ids[t];
        if (w >= 0 && w < e->words && (t == 0 || m->word_ids[t - 1] != w) && m->pred[w] < 0)
            m->pred[w] = tp[t];
    }
    ar__json_write_key(b, "words");
    ar__json_put(b, "[");
    for (int j = 0; j < e->words; j++) {
        ar__json_comma(b);
        ar__json_write_string(b, m->words[j]);
    }
    ar__json_put(b, "]");
    ar__json_write_key(b, "tags");
    names_list(b, names, s->ds->num_labels, e->tags, e->words);
    ar__json_write_key(b, "predicted");
    names_list(b, names, s->ds->num_labels, m->pred, e->words);
    return AR_STATUS_OK;
}

static void lm_line(struct ar__json_buf *b, const struct ar__predictions_source *s, int i)
{
    const struct ar_example *e = &s->ds->examples[i];
    ar__json_write_key(b, "prompt");
    ar__json_write_string(b, e->text);
    ar__json_write_key(b, "completion");
    ar__json_write_string(b, e->text_b ? e->text_b : "");
    ar__json_write_key(b, "loss");
    ar__json_write_double(b, s->outs->losses[i]);
    ar__json_write_key(b, "tokens");
    ar__json_write_int(b, s->outs->tokens[i]);
}

/* ---- the file ------------------------------------------------------------------------------ */

static enum ar_status word_map_init(struct word_map *m, const struct ar__predictions_source *s)
{
    int most = 1;
    for (int i = 0; i < s->ds->count; i++)
        most = s->ds->examples[i].words > most ? s->ds->examples[i].words : most;
    size_t t = (size_t)(s->max_len > 0 ? s->max_len : 1);
    m->ids = malloc(t * sizeof *m->ids);
    m->types = malloc(t * sizeof *m->types);
    m->word_ids = malloc(t * sizeof *m->word_ids);
    m->pred = malloc((size_t)most * sizeof *m->pred);
    m->words = malloc((size_t)most * sizeof *m->words);
    return m->ids && m->types && m->word_ids && m->pred && m->words ? AR_STATUS_OK
                                                                    : AR_STATUS_OUT_OF_MEMORY;
}

static void word_map_free(struct word_map *m)
{
    free(m->ids), free(m->types), free(m->word_ids), free(m->pred), free(m->words);
}

/* Every line into f; the reason in err on a failure. */
static enum ar_status write_lines(FILE *f, const struct ar__predictions_source *s, char *err,
                                  size_t err_size)
{
    struct word_map m = {0};
    struct ar__json_buf b = {0};
    enum ar_status st = s->task == AR_TASK_TOKEN_CLS ? word_map_init(&m, s) : AR_STATUS_OK;
    for (int i = 0; st == AR_STATUS_OK && i < s->ds->count; i++) {
        b.len = 0;
        if (b.data)
            b.data[0] = '\0';
        ar__json_put(&b, "{");
        ar__json_write_key(&b, "index");
        ar__json_write_int(&b, i);
        if (s->task == AR_TASK_TOKEN_CLS)
            st = token_line(&b, s, i, &m, err, err_size);
        else if (s->task == AR_TASK_CAUSAL_LM)
            lm_line(&b, s, i);
        else
            seq_line(&b, s, i);
        ar__json_put(&b, "}\n");
        if (st == AR_STATUS_OK && b.oom)
            st = AR_STATUS_OUT_OF_MEMORY, snprintf(err, err_size, "out of memory");
        if (st == AR_STATUS_OK && fwrite(b.data, 1, b.len, f) != b.len)
            st = AR_STATUS_IO, snprintf(err, err_size, "%s", strerror(errno));
    }
    if (st == AR_STATUS_OUT_OF_MEMORY && !err[0])
        snprintf(err, err_size, "out of memory");
    ar__json_buf_free(&b);
    word_map_free(&m);
    return st;
}

enum ar_status ar__predictions_commit(struct ar__predictions_file *pf,
                                      const struct ar__predictions_source *src, char *err,
                                      size_t err_size)
{
    char why[512] = "";
    enum ar_status st = write_lines(pf->af.f, src, why, sizeof why);
    if (st != AR_STATUS_OK) {
        ar__fail_buf(err, err_size, st, "%s: cannot write: %s", pf->af.path, why);
        ar__atomic_abort(&pf->af);
        return st;
    }
    /* flushed, fsync'd, renamed into place: a full disk shows in the flush at the latest */
    return ar__atomic_commit(&pf->af, err, err_size);
}

/* Prompt/completion data encoded for causal-LM fine-tuning (ar_dataset_encode_lm, dataset.h):
 * ids = prompt + completion + eos, the (already shifted) targets −100 while the next token is the
 * prompt's, truncation from the prompt's left keeping a BOS, then from the completion's right;
 * subsets and padded batches keep the targets (−100 on padding); bad input gives a clear message;
 * ar_tokenizer_encode_plain (the completion's encoder) leaves out the template's BOS.
 * Then the loss transformers computes: tests/fixtures/gen_decoders_cls.py encoded four rows of
 * prompt and completion ids as completion fine-tuning does and ran GPT2LMHeadModel with labels
 * −100 over the prompt and the padding; the same ids through ar_dataset_encode_lm, a padded batch
 * and the tiny GPT-2 (LoRA B = 0 at init: the base model) give the same batch and loss, within
 * the forward tolerance of tests/test_model_gpt2.c (k = 2·(2·(48+16+12+48+48+100) + 48), T = 12
 * here). */
#include <stdlib.h>
#include <string.h>

#include "adarank/dataset.h"
#include "adarank/tokenizer.h"
#include "model_check.h"

#define CHECK_OK_PLAIN(call) CHECK((call) == AR_STATUS_OK, "%s: %s", #call, err)

/* Toy encoders: 'a' → 3, 'b' → 4, ...; the prompt one starts with BOS 1 when bos is set. */
struct toy {
    bool bos;
};

static enum ar_status toy_encode(bool bos, const char *text, int max_len, int32_t *ids, int *len)
{
    *len = 0;
    if (bos && *len < max_len) ids[(*len)++] = 1;
    for (const char *c = text; *c && *len < max_len; c++)
        ids[(*len)++] = 3 + (*c - 'a');
    return AR_STATUS_OK;
}

static enum ar_status toy_prompt(void *user, const char *text, const char *text_b, int max_len,
                                 int32_t *ids, int32_t *type_ids, int *len, char *err,
                                 size_t err_size)
{
    (void)text_b, (void)type_ids, (void)err, (void)err_size;
    return toy_encode(((struct toy *)user)->bos, text, max_len, ids, len);
}

static enum ar_status toy_completion(void *user, const char *text, const char *text_b, int max_len,
                                     int32_t *ids, int32_t *type_ids, int *len, char *err,
                                     size_t err_size)
{
    (void)user, (void)text_b, (void)type_ids, (void)err, (void)err_size;
    return toy_encode(false, text, max_len, ids, len);
}

static struct ar_dataset *read_jsonl(const char *text)
{
    struct ar_dataset_params p = ar_dataset_default_params();
    struct ar_dataset *ds = NULL;
    char err[512];
    enum ar_status st =
        ar_dataset_read_buffer("rows.jsonl", text, strlen(text), &p, &ds, err, sizeof err);
    CHECK(st == AR_STATUS_OK, "reading rows.jsonl: %s", err);
    return ds;
}

/* Example i of set is ids `want` with targets `labels` (n tokens). */
static void expect_row(const struct ar_encoded *set, int i, const int32_t *want,
                       const int32_t *labels, int n, const char *what)
{
    int len = ar_encoded_length(set, i);
    CHECK(len == n, "%s: %d tokens, want %d", what, len, n);
    for (int t = 0; len == n && t < n; t++) {
        CHECK(set->ids[set->offsets[i] + t] == want[t], "%s: id %d is %d, want %d", what, t,
              set->ids[set->offsets[i] + t], want[t]);
        CHECK(set->token_labels[set->offsets[i] + t] == labels[t], "%s: target %d is %d, want %d",
              what, t, set->token_labels[set->offsets[i] + t], labels[t]);
    }
}

static void encoding(void)
{
    struct ar_dataset *ds = read_jsonl("{\"prompt\": \"abc\", \"completion\": \"de\"}\n"
                                       "{\"prompt\": \"abcdef\", \"completion\": \"gh\"}\n"
                                       "{\"prompt\": \"ab\", \"completion\": \"cdefg\"}\n");
    if (!ds) return;
    struct toy toy = {.bos = true};
    struct ar_lm_encoder enc = {toy_prompt, toy_completion, &toy, .eos_id = 2, .bos_id = 1};
    struct ar_encoded *set = NULL;
    char err[512];
    CHECK(ar_dataset_encode_lm(ds, &enc, 16, &set, err, sizeof err) == AR_STATUS_OK, "%s", err);
    if (set) { /* BOS a b c | d e EOS: learned are d, e and the eos */
        int32_t ids[] = {1, 3, 4, 5, 6, 7, 2}, tl[] = {-100, -100, -100, 6, 7, 2, -100};
        expect_row(set, 0, ids, tl, 7, "row 0 whole");
        CHECK(set->truncated == 0 && set->labels[0] == -1 && set->num_labels == 0 &&
                  set->max_len == 10,
              "no cut, no class: truncated %d, label %d, max_len %d", set->truncated,
              set->labels[0], set->max_len);
        /* subsets keep the targets; padded batches put −100 on the padding */
        int rows[] = {2, 0};
        struct ar_encoded *sub = NULL;
        CHECK(ar_encoded_subset(set, rows, 2, &sub) == AR_STATUS_OK && sub && sub->token_labels,
              "subset with targets");
        if (sub) expect_row(sub, 1, ids, tl, 7, "subset row 1");
        struct ar_padded_batch pb = {0};
        CHECK(ar_padded_batch_fill(&pb, set, rows, 2, 0) == AR_STATUS_OK && pb.token_labels,
              "padded batch with targets");
        if (pb.token_labels)
            CHECK(pb.time == 9 && pb.token_labels[9 + 7] == -100 &&
                      pb.token_labels[9 + 8] == -100 && pb.attn_mask[9 + 7] == 0 &&
                      pb.token_labels[9 + 5] == 2,
                  "padding: targets -100, mask 0 (time %d)", pb.time);
        ar_padded_batch_free(&pb);
        ar_encoded_free(sub);
    }
    ar_encoded_free(set);
    /* max_len 5: the completion (g h EOS) stays, the prompt keeps its BOS and last token */
    CHECK(ar_dataset_encode_lm(ds, &enc, 5, &set, err, sizeof err) == AR_STATUS_OK, "%s", err);
    if (set) {
        int32_t ids1[] = {1, 8, 9, 10, 2}, tl1[] = {-100, 9, 10, 2, -100};
        expect_row(set, 1, ids1, tl1, 5, "prompt cut from the left");
        /* max_len 5 with 3 + 6 tokens: the prompt keeps b, the completion loses g and its eos */
        int32_t ids2[] = {4, 5, 6, 7, 8}, tl2[] = {5, 6, 7, 8, -100};
        expect_row(set, 2, ids2, tl2, 5, "completion cut from the right");
        CHECK(set->truncated == 3, "3 rows cut, got %d", set->truncated);
    }
    ar_encoded_free(set);
    /* without a BOS and with an empty prompt, the first completion token is not predicted */
    toy.bos = false;
    struct ar_dataset *empty = read_jsonl("{\"prompt\": \"\", \"completion\": \"x\"}\n"
                                          "{\"prompt\": \"\", \"completion\": \"\"}\n");
    CHECK(empty &&
              ar_dataset_encode_lm(empty, &enc, 8, &set, err, sizeof err) ==
                  AR_STATUS_INVALID_ARGUMENT &&
              strstr(err, "rows.jsonl:2") && strstr(err, "nothing to learn"),
          "an empty row: %s", err);
    printf("  %s\n", err);
    CHECK(ar_dataset_encode_lm(ds, &enc, 1, &set, err, sizeof err) == AR_STATUS_INVALID_ARGUMENT &&
              strstr(err, "at least 2"),
          "max length 1: %s", err);
    ar_dataset_free(empty);
    ar_dataset_free(ds);
    ds = read_jsonl(
        "{\"text\": \"abc\", \"label\": \"pos\"}\n{\"text\": \"b\", \"label\": \"neg\"}\n");
    CHECK(ds &&
              ar_dataset_encode_lm(ds, &enc, 8, &set, err, sizeof err) ==
                  AR_STATUS_INVALID_ARGUMENT &&
              strstr(err, "prompt/completion"),
          "classification data: %s", err);
    printf("  %s\n", err);
    ar_dataset_free(ds);
}

/* ar_tokenizer_encode_plain leaves out the template's special tokens: the demo Llama tokenizer
 * (tests/fixtures/llama_lm, template "<s> $A") gives the same ids without the leading <s> (400),
 * and cuts at max_len. */
static void plain_encoding(void)
{
    char path[1024], err[512];
    struct ar_tokenizer *tok = NULL;
    fixture_path("llama_lm/tokenizer.json", path, sizeof path);
    CHECK(ar_tokenizer_load(path, &tok, err, sizeof err) == AR_STATUS_OK, "%s", err);
    if (!tok) return;
    const char *text = " Bees make honey.";
    int32_t with[32], plain[32];
    int n_with = 0, n_plain = 0;
    CHECK_OK_PLAIN(ar_tokenizer_encode(tok, text, strlen(text), NULL, 0, 32, with, NULL, &n_with,
                                       err, sizeof err));
    CHECK_OK_PLAIN(
        ar_tokenizer_encode_plain(tok, text, strlen(text), 32, plain, &n_plain, err, sizeof err));
    CHECK(n_with == n_plain + 1 && with[0] == 400 && !memcmp(with + 1, plain, n_plain * 4),
          "plain: %d ids, with specials %d (first %d)", n_plain, n_with, with[0]);
    CHECK_OK_PLAIN(
        ar_tokenizer_encode_plain(tok, text, strlen(text), 2, plain, &n_plain, err, sizeof err));
    CHECK(n_plain == 2 && plain[1] == with[2], "plain encoding cut at 2: %d ids", n_plain);
    ar_tokenizer_free(tok);
}

/* ---- transformers' loss on the same rows --------------------------------------------------- */

struct fx_rows {
    const double *ids[2], *len[2]; /* prompt, completion */
    size_t rows;
};

/* The text is the row number: its prompt (which = 0) or completion (1) ids from the fixture. */
static enum ar_status fx_encode(const struct fx_rows *r, int which, const char *text, int max_len,
                                int32_t *ids, int *len)
{
    size_t row = (size_t)atoi(text), at = 0;
    for (size_t i = 0; i < row; i++)
        at += (size_t)r->len[which][i];
    *len = 0;
    for (int i = 0; i < (int)r->len[which][row] && *len < max_len; i++)
        ids[(*len)++] = (int32_t)r->ids[which][at + (size_t)i];
    return AR_STATUS_OK;
}

static enum ar_status fx_prompt(void *user, const char *text, const char *text_b, int max_len,
                                int32_t *ids, int32_t *type_ids, int *len, char *err,
                                size_t err_size)
{
    (void)text_b, (void)type_ids, (void)err, (void)err_size;
    return fx_encode(user, 0, text, max_len, ids, len);
}

static enum ar_status fx_completion(void *user, const char *text, const char *text_b, int max_len,
                                    int32_t *ids, int32_t *type_ids, int *len, char *err,
                                    size_t err_size)
{
    (void)text_b, (void)type_ids, (void)err, (void)err_size;
    return fx_encode(user, 1, text, max_len, ids, len);
}

static void transformers_loss(struct ar_ctx *ctx)
{
    struct fixture f = {0};
    CHECK(load_fx("gpt2_tiny_prompt.bin", &f) == 0, "cannot read gpt2_tiny_prompt.bin");
    if (!f.count) return;
    struct fx_rows r = {{fx(&f, "prompt_ids", NULL), fx(&f, "completion_ids", NULL)},
                        {fx(&f, "prompt_len", &r.rows), fx(&f, "completion_len", NULL)}};
    const double *eos = fx(&f, "eos", NULL), *loss_ref = fx(&f, "loss", NULL);
    size_t n_ids = 0, n_hf = 0;
    const double *ids_ref = fx(&f, "ids", &n_ids), *hf = fx(&f, "hf_labels", &n_hf);
    struct ar_dataset *ds = read_jsonl("{\"prompt\": \"0\", \"completion\": \"0\"}\n"
                                       "{\"prompt\": \"1\", \"completion\": \"1\"}\n"
                                       "{\"prompt\": \"2\", \"completion\": \"2\"}\n"
                                       "{\"prompt\": \"3\", \"completion\": \"3\"}\n");
    struct ar_lm_encoder enc = {fx_prompt, fx_completion, &r, .eos_id = eos ? (int32_t)eos[0] : 0,
                                .bos_id = -1};
    struct ar_encoded *set = NULL;
    char err[512];
    CHECK(ds && ar_dataset_encode_lm(ds, &enc, 12, &set, err, sizeof err) == AR_STATUS_OK, "%s",
          err);
    struct ar_padded_batch pb = {0};
    int rows[] = {0, 1, 2, 3};
    if (set) CHECK_OK(ctx, ar_padded_batch_fill(&pb, set, rows, 4, enc.eos_id));
    /* the same padded ids as transformers' batch, and its labels shifted by one */
    bool same = pb.ids && ids_ref && (size_t)pb.batch * (size_t)pb.time == n_ids && n_hf == n_ids;
    for (size_t k = 0; same && k < n_ids; k++) {
        size_t t = k % (size_t)pb.time;
        int32_t shifted = t + 1 < (size_t)pb.time ? (int32_t)hf[k + 1] : -100;
        same = pb.ids[k] == (int32_t)ids_ref[k] && pb.token_labels[k] == shifted;
    }
    CHECK(same, "the encoded batch is transformers' (ids, and labels shifted by one)");
    struct ar_model_options o = ar_model_default_options();
    o.task = AR_TASK_CAUSAL_LM;
    o.target_modules = "c_attn";
    o.rank = 2;
    o.max_batch = 4;
    o.max_time = 12;
    struct ar_model *m = NULL;
    CHECK_OK(ctx, ar_model_load(ctx, data_path("gpt2_tiny"), &o, &m));
    if (m && same && loss_ref) {
        struct ar_batch b = {.batch = pb.batch,
                             .time = pb.time,
                             .ids = pb.ids,
                             .attn_mask = pb.attn_mask,
                             .token_labels = pb.token_labels};
        float loss = 0;
        CHECK_OK(ctx, ar_model_forward(m, &b, false, 0, &loss));
        double k = 2.0 * (2 * (48 + 16 + 12 + 48 + 48 + 100) + 48);
        CHECK(fabs(loss - loss_ref[0]) <= test_tolerance(k, loss_ref[0]),
              "loss %.9g, transformers' %.9g", (double)loss, loss_ref[0]);
        printf("completion-only loss %.6f, transformers' %.6f\n", (double)loss, loss_ref[0]);
    }
    ar_model_free(m);
    ar_padded_batch_free(&pb);
    ar_encoded_free(set);
    ar_dataset_free(ds);
    fixture_free(&f);
}

int main(void)
{
    encoding();
    plain_encoding();
    struct ar_ctx *ctx = test_open_ctx();
    transformers_loss(ctx);
    free_held();
    ar_ctx_free(ctx);
    return test_finish("dataset_lm");
}

/* Entity-level F1 of IOB2 tags (eval_tokens.c) on hand-worked cases. The expected entities and
 * F1 values are what seqeval 1.2.2's get_entities and f1_score (default mode, micro average)
 * return for the same tag sequences (checked once by hand with seqeval; the cases are written
 * out below so the test needs no Python). */
#include "test.h"

#include "adarank/train.h"

static const char *const names[] = {"O",     "B-PER", "I-PER",  "B-LOC", "I-LOC",
                                    "B-ORG", "I-ORG", "B-MISC", "I-MISC"};
enum { K = 9 };

static int id(const char *tag)
{
    for (int i = 0; i < K; i++)
        if (!strcmp(names[i], tag))
            return i;
    return -1;
}

/* Tags separated by spaces; sequences separated by " | ". */
static void score(const char *truth, const char *pred, struct ar_entity_counts *c)
{
    char a[256], b[256];
    snprintf(a, sizeof a, "%s", truth);
    snprintf(b, sizeof b, "%s", pred);
    char *sa = NULL, *sb = NULL;
    char *seq_a = strtok_r(a, "|", &sa), *seq_b = strtok_r(b, "|", &sb);
    for (; seq_a && seq_b; seq_a = strtok_r(NULL, "|", &sa), seq_b = strtok_r(NULL, "|", &sb)) {
        int32_t ta[32], tb[32];
        int na = 0, nb = 0;
        char *s1 = NULL, *s2 = NULL;
        for (char *t = strtok_r(seq_a, " ", &s1); t; t = strtok_r(NULL, " ", &s1))
            ta[na++] = id(t);
        for (char *t = strtok_r(seq_b, " ", &s2); t; t = strtok_r(NULL, " ", &s2))
            tb[nb++] = id(t);
        CHECK(na == nb, "same lengths: %d, %d", na, nb);
        ar_entity_count(names, K, ta, tb, na, c);
    }
}

static void expect(const char *what, const char *truth, const char *pred, int64_t t, int64_t p,
                   int64_t correct, double f1)
{
    struct ar_entity_counts c = {0};
    score(truth, pred, &c);
    CHECK(c.truth == t && c.predicted == p && c.correct == correct,
          "%s: %lld true, %lld predicted, %lld correct; want %lld, %lld, %lld", what,
          (long long)c.truth, (long long)c.predicted, (long long)c.correct, (long long)t,
          (long long)p, (long long)correct);
    /* f1 = 2·correct/(t + p): one division, exact to the last bit of a double */
    CHECK(fabs(ar_entity_f1(&c) - f1) <= 1e-15, "%s: f1 %.17g want %.17g", what,
          ar_entity_f1(&c), f1);
}

int main(void)
{
    /* seqeval: [('PER', 0, 1), ('LOC', 3, 3)] both: f1 1.0 */
    expect("exact", "B-PER I-PER O B-LOC", "B-PER I-PER O B-LOC", 2, 2, 2, 1.0);
    /* PER (0, 1) vs PER (0, 0): a span off by one is wrong; LOC right: 0.5 */
    expect("span", "B-PER I-PER O B-LOC", "B-PER O O B-LOC", 2, 2, 1, 0.5);
    /* an I without a B starts an entity: PER (1, 2) in both: 1.0 */
    expect("I starts", "O I-PER I-PER O", "O B-PER I-PER O", 1, 1, 1, 1.0);
    /* B-PER I-LOC is two entities, PER (0, 0) and LOC (1, 1); the prediction PER (0, 1): 0 */
    expect("type change", "B-PER I-LOC O", "B-PER I-PER O", 2, 1, 0, 0.0);
    /* B B I: LOC (0, 0), LOC (1, 2) vs LOC (0, 2): 0 */
    expect("B B", "B-LOC B-LOC I-LOC", "B-LOC I-LOC I-LOC", 2, 1, 0, 0.0);
    /* two sentences: ORG right, MISC (2, 2) vs (2, 3), PER (0, 1) vs two PERs: 2·1/7 */
    expect("two sentences", "B-ORG O B-MISC O | B-PER I-PER",
           "B-ORG O B-MISC I-MISC | B-PER B-PER", 3, 4, 1, 2.0 / 7.0);
    /* an entity open at the end of one sentence does not run into the next */
    expect("sentence end", "B-PER | I-PER", "B-PER | I-PER", 2, 2, 2, 1.0);
    /* no entity anywhere: seqeval's zero_division gives 0 */
    expect("none", "O O", "O O", 0, 0, 0, 0.0);

    CHECK(ar_tags_are_iob(names, K), "CoNLL tags are IOB");
    const char *pos[] = {"NOUN", "VERB", "O"};
    CHECK(!ar_tags_are_iob(pos, 3), "POS tags are not");
    const char *only_o[] = {"O"};
    CHECK(!ar_tags_are_iob(only_o, 1), "O alone has no entity");
    const char *empty_type[] = {"O", "B-"};
    CHECK(!ar_tags_are_iob(empty_type, 2), "B- needs a type");
    const char *lower[] = {"O", "b-per"};
    CHECK(!ar_tags_are_iob(lower, 2), "prefixes are upper case");
    return test_finish("eval_tokens");
}

/* The WordPiece model (BERT; Schuster & Nakajima 2012, Wu et al. 2016 §4.1): each
 * pre-tokenized word is cut greedily into the longest vocabulary entries, left to right, every
 * piece after the first carrying the continuation prefix ("##"). A word that cannot be cut, or
 * that is longer than max_input_chars_per_word characters, becomes a single [UNK]. */
#include "tokenizer_internal.h"

static size_t count_chars(const char *w, size_t n)
{
    size_t chars = 0;
    for (size_t i = 0; i < n; i++)
        chars += ((unsigned char)w[i] & 0xC0) != 0x80;
    return chars;
}

bool ar__wordpiece_word(const struct ar_tokenizer *tok, const char *w, size_t n,
                        struct ar__tok_buf *scratch, struct ar__tok_ids *out)
{
    if (count_chars(w, n) > (size_t)tok->max_chars) return ar__tok_ids_push(out, tok->unk_id);
    size_t first = out->len, start = 0;
    while (start < n) {
        size_t end = n;
        int32_t id = -1;
        while (end > start) {
            scratch->len = 0;
            if ((start > 0 && !ar__tok_buf_put(scratch, tok->prefix, tok->prefix_len)) ||
                !ar__tok_buf_put(scratch, w + start, end - start))
                return false;
            id = ar__vocab_find(&tok->vocab, scratch->data, scratch->len);
            if (id >= 0) break;
            do /* back one character */
                end--;
            while (end > start && ((unsigned char)w[end] & 0xC0) == 0x80);
        }
        if (id < 0) {
            out->len = first;
            return ar__tok_ids_push(out, tok->unk_id);
        }
        if (!ar__tok_ids_push(out, id)) return false;
        start = end;
    }
    return true;
}

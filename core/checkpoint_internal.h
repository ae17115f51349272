/* Checkpoints: what checkpoint.c shares with checkpoint_files.c. Library-internal. */
#ifndef ADARANK_CORE_CHECKPOINT_INTERNAL_H
#define ADARANK_CORE_CHECKPOINT_INTERNAL_H

#include "adarank/checkpoint.h"
#include "internal.h"

/* The whole file (malloc'd); NULL with the reason in err and the status in *st. */
unsigned char *ar__checkpoint_read(const char *path, size_t *size, char *err, size_t err_size,
                                   enum ar_status *st);
/* Size, magic, version, byte order and checksum: whether the bytes are a whole, intact file;
 * false with the reason in why. */
bool ar__checkpoint_check_whole(const unsigned char *d, size_t size, char *why, size_t why_size);

/* Deletes all but the newest `keep` checkpoints of dir, and unfinished temporaries. */
void ar__checkpoint_prune(const char *dir, int keep);

#endif

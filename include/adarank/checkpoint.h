/* Checkpoints: the whole state of a training run between two optimizer steps, so that a killed
 * run (kill -9 at any moment) resumes and continues exactly as if uninterrupted: same data order,
 * same dropout streams, same optimizer moments, same rank-method state.
 *
 * One file RUN_DIR/checkpoint-<step>.arck, little-endian:
 *     "ARCK" | uint32 version | uint64 file size | uint32 step | uint32 0x01020304 (byte order)
 *     uint64 n | n bytes: the trainer's progress (train.h ar_train_progress, field by field)
 *     uint64 arena total | uint32 slices | per slice: uint32 name length, name, uint64 offset,
 *                                                     uint64 count
 *     uint64 n | n bytes: the method's state (kind, selection variables, AdaLoRA's scores...)
 *     uint32 has_best | float32 param[total], m[total], v[total], (has_best) best[total]
 *     uint32 CRC-32C (tensorboard.h ar_crc32c) of every byte before it
 * The gradients are zero between steps and are not stored. A file is written to a temporary
 * name in the run folder, fsync'd, renamed into place and the folder fsync'd; only then are older
 * checkpoints deleted, keeping the newest AR_CHECKPOINT_KEEP. Loading checks the size, magic,
 * version, checksum and that the arena layout (names, offsets, sizes) is the model's.
 */
#ifndef ADARANK_CHECKPOINT_H
#define ADARANK_CHECKPOINT_H

#include "method.h"
#include "train.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AR_CHECKPOINT_MAGIC "ARCK"
#define AR_CHECKPOINT_VERSION 1
#define AR_CHECKPOINT_KEEP 2 /* files kept in a run folder: the newest and one to fall back to */

/* Writes dir/checkpoint-<step>.arck of the trainer (between steps: from a step_end hook, or
 * after ar_trainer_run returned) and its method (may be NULL when the trainer has none), then
 * deletes older checkpoints beyond AR_CHECKPOINT_KEEP. path (may be NULL) receives the file. */
enum ar_status ar_checkpoint_save(struct ar_trainer *t, struct ar_method *method, const char *dir,
                                  char *path, size_t path_size);

/* Restores one checkpoint file into a trainer built with the same configuration (and its method,
 * attached; NULL when saved without). Nothing is changed on a file that fails its checks; the
 * context's message says what is wrong ("checkpoint-7.arck: checksum mismatch ..."). */
enum ar_status ar_checkpoint_load(struct ar_trainer *t, struct ar_method *method,
                                  const char *path);

/* The steps of dir's checkpoint files, newest first; returns how many (at most cap). */
int ar_checkpoint_list(const char *dir, int *steps, int cap);

/* Loads the newest good checkpoint of dir, falling back to older ones: each bad file is logged
 * and described in notes ("PATH: why; trying the previous one" lines; may be NULL). *step gets
 * the step resumed from. AR_STATUS_NOT_FOUND when dir has no checkpoint, else the last file's
 * error when none is good. */
enum ar_status ar_checkpoint_load_latest(struct ar_trainer *t, struct ar_method *method,
                                         const char *dir, int *step, char *notes,
                                         size_t notes_size);

/* Without a trainer: the newest checkpoint file of dir that is whole and intact (size, magic,
 * version, checksum), its step and path; notes as above. AR_STATUS_NOT_FOUND when there is none.
 * What `resume` uses to know the step before anything is loaded; ar_checkpoint_load then checks
 * the rest. */
enum ar_status ar_checkpoint_find(const char *dir, int *step, char *path, size_t path_size,
                                  char *notes, size_t notes_size);

/* Deletes every checkpoint file of dir (a new run in a reused run folder). */
void ar_checkpoint_remove_all(const char *dir);

/* Cuts a metrics.jsonl stream back to what a run resumed from `step` has not yet written: every
 * line up to the first event with a step above it, without run_end lines (the resumed run writes
 * its own). The kept lines go to a temporary file renamed over `path`. last_ranks_step (may be
 * NULL) gets the step of the last kept "ranks" record, -1 when none. */
enum ar_status ar_checkpoint_trim_metrics(const char *path, int step, int *last_ranks_step,
                                          char *err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif

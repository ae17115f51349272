/* adarank: gated-LoRA fine-tuning on any OpenCL device. The umbrella header. */
#ifndef ADARANK_ADARANK_H
#define ADARANK_ADARANK_H

#include "adarank/version.h"
#include "status.h"
#include "device.h"
#include "memory.h"
#include "blas.h"
#include "tuning.h"
#include "profile.h"
#include "lora.h"
#include "adamw.h"
#include "arena.h"
#include "model.h"
#include "metrics.h"
#include "peft.h"
#include "peft_merge.h"
#include "tensorboard.h"
#include "ops.h"
#include "safetensors.h"
#include "tokenizer.h"
#include "dataset.h"
#include "train.h"
#include "method.h"
#include "checkpoint.h"

#ifdef ADARANK_WITH_CAIRO /* set by the build when the library has the charts (cairo) */
#include "render.h"
#endif

#endif

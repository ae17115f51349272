/* adarank: gated-LoRA fine-tuning on any OpenCL device. The umbrella header. */
#ifndef ADARANK_ADARANK_H
#define ADARANK_ADARANK_H

#include "adarank/version.h"
#include "status.h"
#include "device.h"
#include "memory.h"
#include "blas.h"
#include "lora.h"
#include "adamw.h"
#include "arena.h"

#endif

/* Training-step benchmark model for the emulation harness (instruction counts in QEMU).
 * Input: u32 mode, i32 labels[8], float32 x[8][64]; output: float32 loss. Modes: see model.c. */
#ifndef ET_BENCH_TRAIN_MODEL_H
#define ET_BENCH_TRAIN_MODEL_H

#define ET_MODEL_INPUT_BYTES (4 + 8 * 4 + 8 * 64 * 4)
#define ET_MODEL_OUTPUT_BYTES 4

int et_model_infer(const void *input, void *output);

#endif

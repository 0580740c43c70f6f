/* SPDX-License-Identifier: Apache-2.0 */
/* Test driver for the training library's input and output helpers (train_model_input.c).
 * stdin: u32 n, then n raw samples (ET_TRAIN_INPUT_COUNT floats each), then n logit rows
 * (ET_TRAIN_N_CLASSES floats each). stdout: for each sample its prepared input bytes, then
 * n int32 argmax results, then the class names, one per line (if the model has any). */
#include <stdio.h>
#include <stdlib.h>

#include "train_model.h"

int main(void)
{
    static float raw[ET_TRAIN_INPUT_COUNT];
    static ET_TRAIN_INPUT_TYPE input[ET_TRAIN_INPUT_COUNT];
    static float logits[ET_TRAIN_N_CLASSES];
    unsigned int n = 0, i;
    if (fread(&n, sizeof n, 1, stdin) != 1) {
        return 2;
    }
    for (i = 0; i < n; ++i) {
        if (fread(raw, sizeof raw, 1, stdin) != 1 || et_train_input_from_raw(raw, input) != ET_OK) {
            return 3;
        }
        fwrite(input, sizeof input, 1, stdout);
    }
    for (i = 0; i < n; ++i) {
        int32_t best;
        if (fread(logits, sizeof logits, 1, stdin) != 1) {
            return 4;
        }
        best = et_train_argmax(logits);
        fwrite(&best, sizeof best, 1, stdout);
    }
#ifdef HAVE_CLASS_NAMES
    for (i = 0; i < ET_TRAIN_N_CLASSES; ++i) {
        printf("%s\n", et_train_class_names[i]);
    }
#endif
    return 0;
}

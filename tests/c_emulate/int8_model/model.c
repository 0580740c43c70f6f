/* out[i] = sat8((sum_j w[i][j] * (x[j] - zp) + bias[i] + 2^(S-1)) >> S): int8 dense, 8 -> 4. */
#include <stdint.h>

#include "model.h"

#define ET_ZP (-3)
#define ET_SHIFT 6

static const int8_t et_w[4][8] = {
    {12, -7, 33, -128, 5, 0, 99, -45},
    {-1, 127, -64, 18, -90, 44, 3, 7},
    {70, 70, -70, -70, 25, -25, 1, -1},
    {-128, -128, 127, 127, 0, 9, -9, 60},
};
static const int32_t et_bias[4] = {100, -2500, 7, 1234};

int et_model_infer(const void *input, void *output)
{
    const int8_t *x = (const int8_t *)input;
    int8_t *y = (int8_t *)output;
    int i;
    int j;

    for (i = 0; i < 4; ++i) {
        int32_t acc = et_bias[i];
        for (j = 0; j < 8; ++j) {
            acc += (int32_t)et_w[i][j] * ((int32_t)x[j] - ET_ZP);
        }
        /* Arithmetic shift of a negative value is implementation-defined in C99; floor it
         * explicitly so host and target agree with numpy's >> (floor). */
        acc += (int32_t)1 << (ET_SHIFT - 1);
        acc = acc >= 0 ? acc / (1 << ET_SHIFT)
                       : -((-acc + (1 << ET_SHIFT) - 1) / (1 << ET_SHIFT));
        if (acc > 127) {
            acc = 127;
        }
        if (acc < -128) {
            acc = -128;
        }
        y[i] = (int8_t)acc;
    }
    return 0;
}

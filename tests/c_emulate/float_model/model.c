/* y = relu(W x + b): a 4 -> 3 dense layer with weights exactly representable in float32. */
#include <string.h>

#include "model.h"

static const float et_w[3][4] = {
    {0.5f, -1.25f, 2.0f, 0.125f},
    {-0.75f, 0.25f, 1.5f, -2.0f},
    {1.0f, 1.0f, -0.5f, 0.375f},
};
static const float et_b[3] = {0.1f, -0.2f, 0.3f};

int et_model_infer(const void *input, void *output)
{
    float x[4];
    float y[3];
    int i;
    int j;

    /* memcpy: the harness only promises byte buffers; copying avoids aliasing questions. */
    memcpy(x, input, sizeof x);
    for (i = 0; i < 3; ++i) {
        float acc = et_b[i];
        for (j = 0; j < 4; ++j) {
            acc += et_w[i][j] * x[j];
        }
        y[i] = acc > 0.0f ? acc : 0.0f;
    }
    memcpy(output, y, sizeof y);
    return 0;
}

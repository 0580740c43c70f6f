/* SPDX-License-Identifier: Apache-2.0 */
/* Training losses: mean loss and its gradient (see et_train.h). Single precision throughout
 * (expf/logf), computed the way edgetrain/engine/losses.py does it. */
#include <math.h>

#include "et_train.h"

et_status et_softmax_xent_f32(const float *logits, const int32_t *labels, int32_t batch,
                              int32_t n_classes, float *loss, float *dlogits)
{
    int32_t b;
    int32_t j;
    float total = 0.0f;
    if (logits == 0 || labels == 0 || loss == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (batch <= 0 || n_classes <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    /* Validate every label before writing anything (dlogits may be the logits themselves). */
    for (b = 0; b < batch; ++b) {
        if (labels[b] < 0 || labels[b] >= n_classes) {
            return ET_ERR_BAD_PARAM;
        }
    }
    for (b = 0; b < batch; ++b) {
        const float *z = logits + (int32_t)(b * n_classes);
        const int32_t label = labels[b];
        float zmax = z[0];
        float sum = 0.0f;
        float lse;
        for (j = 1; j < n_classes; ++j) {
            zmax = z[j] > zmax ? z[j] : zmax;
        }
        for (j = 0; j < n_classes; ++j) {
            sum += expf(z[j] - zmax);
        }
        lse = logf(sum);
        /* log p = (z - max) - lse, as log_softmax in the numpy engine. A NaN logit makes sum, lse
         * and the loss NaN: the divergence guard's signal. */
        total -= (z[label] - zmax) - lse;
        if (dlogits != 0) {
            float *g = dlogits + (int32_t)(b * n_classes);
            const float fbatch = (float)batch;
            for (j = 0; j < n_classes; ++j) {
                const float pj = expf((z[j] - zmax) - lse);
                g[j] = (pj - (j == label ? 1.0f : 0.0f)) / fbatch;
            }
        }
    }
    *loss = total / (float)batch;
    return ET_OK;
}

et_status et_mse_f32(const float *pred, const float *target, int32_t n, float *loss, float *grad)
{
    int32_t i;
    float total = 0.0f;
    if (pred == 0 || target == 0 || loss == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (n <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    for (i = 0; i < n; ++i) {
        const float d = pred[i] - target[i];
        total += d * d;
        if (grad != 0) {
            grad[i] = (2.0f * d) / (float)n;
        }
    }
    *loss = total / (float)n;
    return ET_OK;
}

et_status et_mse_labels_f32(const float *pred, const int32_t *labels, int32_t batch,
                            int32_t n_classes, float *loss, float *grad)
{
    int32_t b;
    int32_t j;
    float total = 0.0f;
    const int32_t n = batch * n_classes;
    if (pred == 0 || labels == 0 || loss == 0) {
        return ET_ERR_NULL_ARG;
    }
    if (batch <= 0 || n_classes <= 0) {
        return ET_ERR_BAD_SHAPE;
    }
    for (b = 0; b < batch; ++b) {
        if (labels[b] < 0 || labels[b] >= n_classes) {
            return ET_ERR_BAD_PARAM;
        }
    }
    for (b = 0; b < batch; ++b) {
        for (j = 0; j < n_classes; ++j) {
            const int32_t i = b * n_classes + j;
            const float d = pred[i] - (j == labels[b] ? 1.0f : 0.0f);
            total += d * d;
            if (grad != 0) {
                grad[i] = (2.0f * d) / (float)n;
            }
        }
    }
    *loss = total / (float)n;
    return ET_OK;
}

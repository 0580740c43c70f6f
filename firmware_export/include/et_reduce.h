/* SPDX-License-Identifier: Apache-2.0 */
/* edgetrain runtime: argmax and softmax over one vector. */
#ifndef ET_REDUCE_H
#define ET_REDUCE_H

#include <stdint.h>

#include "et_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Index of the largest element; the first one on ties (as numpy.argmax). */
et_status et_argmax_f32(const float *input, int32_t n, int32_t *index);
et_status et_argmax_s8(const int8_t *input, int32_t n, int32_t *index);

/* Numerically stable softmax (max subtracted before expf). output may equal input. */
et_status et_softmax_f32(const float *input, float *output, int32_t n);

#ifdef __cplusplus
}
#endif

#endif /* ET_REDUCE_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* edgetrain runtime: reference-or-fast kernel selection for generated code.
 *
 * Generated model and training code calls kernels through these macros, never by name, so one
 * switch picks the implementation: with ET_FORCE_REF defined (by the build, or by model_data.h of
 * a model exported with force_ref) every macro calls the portable `_ref` reference kernel, the
 * numerical contract; otherwise the fast variant. Include this header after anything that may
 * define ET_FORCE_REF.
 *
 * Argument conventions the two sides differ in (the macros hide them):
 *   int8 dense and sparse: the fast kernels start from params->eff_bias (the input offset folded
 *     in) and take no bias array, so `b` is dropped and may name an array that exists only in
 *     ET_FORCE_REF builds; the references take the plain bias. The int8 CSC kernel is the
 *     exception: it needs the plain bias (it adds the input offset per visited column).
 *   scratch (`s`): the motif kernels and the int8 CSC kernel take a caller-owned scratch buffer
 *     (et_sparse.h: et_sparse_*_scratch_bytes); the references need none and ignore it.
 *   ET_SPARSE_F32 / ET_SPARSE_S8 take the fast kernel's format suffix (csr, coo, delta, bitmap,
 *     csc, grouped) as `fmt`; the reference kernels read the format from the weights instead.
 *   shared weights (et_shared.h): both sides take the same arguments, including the backward's
 *     slot-gradient scratch.
 *   clustered weights (et_cluster.h): int8 as int8 dense (the fast kernel starts from eff_bias,
 *     `b` is dropped); the pair table `t` is passed to both (the reference ignores it).
 *   convolutions (et_conv.h): ET_CONV_F32 takes the fast kernel's im2col scratch as `s`
 *     (et_conv_f32_scratch_bytes; NULL when that is 0); the reference needs none and ignores it.
 *     ET_DEPTHWISE_CONV_F32 takes the same arguments on both sides. ET_CONV_S8 likewise takes
 *     et_conv_s8's int8 scratch (et_conv_s8_scratch_bytes), and ET_DEPTHWISE_CONV_S8
 *     et_depthwise_conv_s8's padded band (et_depthwise_conv_s8_scratch_bytes); the references
 *     ignore it. The int8 fast convolutions start
 *     from params->eff_bias, as int8 dense does, so their `b` is dropped.
 *   pools (et_pool.h): one implementation each, called by both builds.
 */
#ifndef ET_KERNELS_H
#define ET_KERNELS_H

#include <stddef.h>

#include "et_cluster.h"
#include "et_conv.h"
#include "et_dense.h"
#include "et_pool.h"
#include "et_shared.h"
#include "et_sparse.h"
#include "et_train.h"

#if defined(ET_FORCE_REF)

#define ET_DENSE_F32 et_dense_f32_ref
#define ET_DENSE_S8(p, x, w, b, y) et_dense_s8_ref((p), (x), (w), (b), (y))

#define ET_SPARSE_F32(fmt, p, w, x, b, y) et_sparse_f32_ref((p), (w), (x), (b), (y))
#define ET_SPARSE_F32_MOTIF(p, w, x, b, y, s) et_sparse_f32_ref((p), (w), (x), (b), (y))
#define ET_SPARSE_S8(fmt, p, w, x, b, y) et_sparse_s8_ref((p), (w), (x), (b), (y))
#define ET_SPARSE_S8_MOTIF(p, w, x, b, y, s) et_sparse_s8_ref((p), (w), (x), (b), (y))
#define ET_SPARSE_S8_CSC(p, w, x, b, y, s) et_sparse_s8_ref((p), (w), (x), (b), (y))

#define ET_DENSE_BWD et_dense_f32_backward_update_ref
#define ET_DENSE_BWD_INPUT et_dense_f32_backward_input_ref
#define ET_DENSE_BWD_PARAMS et_dense_f32_backward_params_ref

#define ET_DENSE_F32_SHARED et_dense_f32_shared_ref
#define ET_DENSE_F32_CLUSTER et_dense_f32_cluster_ref
#define ET_DENSE_S8_CLUSTER(p, x, c, i, t, b, y) et_dense_s8_cluster_ref((p), (x), (c), (i), (t), (b), (y))
#define ET_DENSE_SHARED_BWD et_dense_f32_shared_backward_update_ref

#define ET_CONV_F32(p, x, w, b, y, s) et_conv_f32_ref((p), (x), (w), (b), (y))
#define ET_DEPTHWISE_CONV_F32 et_depthwise_conv_f32_ref
#define ET_CONV_S8(p, x, w, b, y, s) et_conv_s8_ref((p), (x), (w), (b), (y))
#define ET_DEPTHWISE_CONV_S8(p, x, w, b, y, s) et_depthwise_conv_s8_ref((p), (x), (w), (b), (y))

#else

#define ET_DENSE_F32 et_dense_f32
#define ET_DENSE_S8(p, x, w, b, y) et_dense_s8((p), (x), (w), NULL, (y))

#define ET_SPARSE_F32(fmt, p, w, x, b, y) et_sparse_f32_##fmt((p), (w), (x), (b), (y))
#define ET_SPARSE_F32_MOTIF(p, w, x, b, y, s) et_sparse_f32_motif((p), (w), (x), (b), (y), (s))
#define ET_SPARSE_S8(fmt, p, w, x, b, y) et_sparse_s8_##fmt((p), (w), (x), NULL, (y))
#define ET_SPARSE_S8_MOTIF(p, w, x, b, y, s) et_sparse_s8_motif((p), (w), (x), NULL, (y), (s))
#define ET_SPARSE_S8_CSC(p, w, x, b, y, s) et_sparse_s8_csc((p), (w), (x), (b), (y), (s))

#define ET_DENSE_BWD et_dense_f32_backward_update
#define ET_DENSE_BWD_INPUT et_dense_f32_backward_input
#define ET_DENSE_BWD_PARAMS et_dense_f32_backward_params

#define ET_DENSE_F32_SHARED et_dense_f32_shared
#define ET_DENSE_F32_CLUSTER et_dense_f32_cluster
#define ET_DENSE_S8_CLUSTER(p, x, c, i, t, b, y) et_dense_s8_cluster((p), (x), (c), (i), (t), NULL, (y))
#define ET_DENSE_SHARED_BWD et_dense_f32_shared_backward_update

#define ET_CONV_F32(p, x, w, b, y, s) et_conv_f32((p), (x), (w), (b), (y), (s))
#define ET_DEPTHWISE_CONV_F32 et_depthwise_conv_f32
#define ET_CONV_S8(p, x, w, b, y, s) et_conv_s8((p), (x), (w), NULL, (y), (s))
#define ET_DEPTHWISE_CONV_S8(p, x, w, b, y, s) et_depthwise_conv_s8((p), (x), (w), NULL, (y), (s))

#endif

/* Pools: no reference / fast split. */
#define ET_MAX_POOL_F32 et_max_pool_f32
#define ET_AVG_POOL_F32 et_avg_pool_f32
#define ET_GLOBAL_AVG_POOL_F32 et_global_avg_pool_f32
#define ET_MAX_POOL_S8 et_max_pool_s8
#define ET_AVG_POOL_S8 et_avg_pool_s8
#define ET_GLOBAL_AVG_POOL_S8 et_global_avg_pool_s8

#endif /* ET_KERNELS_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* edgetrain runtime umbrella header: portable C99, no malloc, no stdio, caller-owned buffers. */
#ifndef ET_RUNTIME_H
#define ET_RUNTIME_H

#include "et_status.h"
#include "et_requant.h"
#include "et_dense.h"
#include "et_shared.h"
#include "et_cluster.h"
#include "et_sparse.h"
#include "et_conv.h"
#include "et_pool.h"
#include "et_elementwise.h"
#include "et_activation.h"
#include "et_reduce.h"
#include "et_optim.h"
#include "et_train.h"
#include "et_storage.h"
#include "et_storage_ram.h"
#include "et_guard.h"

#define ET_RUNTIME_VERSION_MAJOR 0
#define ET_RUNTIME_VERSION_MINOR 1

#endif /* ET_RUNTIME_H */

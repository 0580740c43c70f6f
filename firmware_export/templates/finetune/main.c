/* SPDX-License-Identifier: Apache-2.0 */
/*
 * edgetrain fine-tuning harness: one "boot" of a device that keeps training its model.
 *
 * Contract with the generated training code: train_model.h (see edgetrain/export/c/train_emit.py).
 * I/O helpers (et_hio.h: semihosting under QEMU, stdio on the host), the instruction counter
 * (et_counter.h) and the shared helpers and exit statuses (et_harness.h) are the emulation
 * harness's.
 *
 * Files (little-endian, relative to the working directory):
 *   boot.bin   u32 boot kind: 1 = train boot, 2 = evaluation boot; u32 flags (bit 0: also write
 *              each evaluation sample's body output)
 *   flash.bin  the storage region (two banks), kept between boots; absent = erased flash
 *   train.bin  "ETT1", u32 steps, u32 batch, u32 sample_bytes; per step: int32 labels[batch],
 *              then batch samples                                             (train boot only)
 *   eval.bin   "ETE1", u32 count, u32 sample_bytes, samples
 * A train boot: load the newest valid bank (or keep the compiled-in weights), evaluate, train
 * `steps` steps (divergence guard: a rejected step rolls back to the last commit), check the
 * weights about to be committed (the last update is otherwise never looked at: the loss of one
 * more forward pass on the last batch, and the parameters' RMS against their RMS at the start of
 * the boot, et_guard_check_params; a rejection rolls back to the last commit, whose weights are
 * then what gets committed), commit to the other bank, write flash.bin back. An
 * evaluation boot: the stored bank MUST load (exit 10 otherwise), then evaluate. Both write
 * result.bin:
 *   "ETF1", u32 boot, u32 flags (bit 0: counts valid), u32 counter overhead, i32 load status,
 *   u32 load sequence, u32 eval count, u32 classes, u32 feature bytes, u32 steps
 *   per eval sample: u32 instructions, float logits[classes], feature bytes
 *   per step: float loss, u32 instructions (forward, loss, guard, backward + updates), u32
 *             verdict (0 accepted, 1 rolled back)
 *   trailer: i32 commit status, u32 commit sequence, u32 commit instructions, u32 diverged steps
 *            (the final check's rejection included), float final-check loss, u32 final-check
 *            verdict (0 accepted, 1 rolled back by the loss, 2 not run: no steps or an evaluation
 *            boot, 3 rolled back by the parameter check), float parameter RMS at the start of
 *            the boot, float parameter RMS before the final check, u32 erase count of bank A, u32 erase count of bank B (as recorded in the newest
 *            valid bank after this boot's load or commit; et_storage_info)
 */
#include <stddef.h>
#include <stdint.h>

#include "et_counter.h"
#define ET_HARNESS_NAME "edgetrain finetune harness"
#include "et_harness.h"
#include "et_hio.h"
#include "et_runtime.h"
#include "train_model.h"

#ifndef ET_FT_BANK_BYTES
#error "define ET_FT_BANK_BYTES (bytes per storage bank)"
#endif
#ifndef ET_FT_ERASE_SIZE
#define ET_FT_ERASE_SIZE 16384u
#endif
#ifndef ET_FT_WRITE_UNIT
#define ET_FT_WRITE_UNIT 4u
#endif
#define ET_FT_REGION_BYTES (2u * (uint32_t)(ET_FT_BANK_BYTES))

/* The emulated flash region: RAM here, kept in flash.bin between boots. */
static union {
    unsigned char bytes[ET_FT_REGION_BYTES];
    uint32_t align;
} et_flash;
static union {
    unsigned char bytes[ET_TRAIN_BATCH * ET_TRAIN_INPUT_BYTES];
    float align_float;
    uint32_t align;
} et_x;
static int32_t et_labels[ET_TRAIN_BATCH];
static float et_logits[ET_TRAIN_N_CLASSES];
#if ET_TRAIN_FEATURE_BYTES > 0
/* The frozen body's output of one evaluation sample (only a model with a frozen body has one). */
static union {
    unsigned char bytes[ET_TRAIN_FEATURE_BYTES];
    float align_float;
} et_feat;
#endif

static void et_write(et_hio_file f, const void *buf, size_t len)
{
    if (et_hio_write(f, buf, len) != 0) {
        et_fail(ET_HARNESS_WRITE_FAILED, "cannot write an output file");
    }
}

static void et_write_u32(et_hio_file f, uint32_t v)
{
    unsigned char b[4];
    et_put_u32(b, v);
    et_write(f, b, 4u);
}

/* Opens a file with a 4-byte magic and reads `words` u32 header words after it. */
static et_hio_file et_open_with(const char *name, const char *magic, unsigned char *hdr, size_t words)
{
    const et_hio_file f = et_hio_open(name, 0);
    if (f < 0) {
        et_fail(ET_HARNESS_NO_INPUT, name);
    }
    et_read(f, hdr, 4u + 4u * words, name);
    if (hdr[0] != (unsigned char)magic[0] || hdr[1] != (unsigned char)magic[1] ||
        hdr[2] != (unsigned char)magic[2] || hdr[3] != (unsigned char)magic[3]) {
        et_fail(ET_HARNESS_BAD_HEADER, name);
    }
    return f;
}

int main(void)
{
    unsigned char hdr[64];
    et_ram_storage ram;
    et_storage storage;
    et_storage_info info;
    et_status load_st;
    et_status st;
    et_hio_file f;
    et_hio_file out;
    et_hio_file ev;
    uint32_t boot, overhead, n_eval, n_steps = 0u, i;
    uint32_t commit_seq = 0u, commit_instr = 0u, diverged = 0u, load_seq = 0u;
    uint32_t final_verdict = 2u;
    float final_loss = 0.0f;
    float start_rms = 0.0f;
    float final_rms = 0.0f;
    int32_t commit_st = -1;
    int have_counter;
    int want_features;

    f = et_hio_open("boot.bin", 0);
    if (f < 0) {
        et_fail(ET_HARNESS_NO_INPUT, "boot.bin");
    }
    et_read(f, hdr, 8u, "boot.bin");
    et_hio_close(f);
    boot = et_get_u32(hdr);
    want_features = (et_get_u32(hdr + 4) & 1u) != 0u && ET_TRAIN_FEATURE_BYTES > 0;

    /* Power on: fresh (erased) flash, then the region as the previous boot left it. */
    if (et_ram_storage_init(&ram, et_flash.bytes, ET_FT_REGION_BYTES, ET_FT_ERASE_SIZE,
                            ET_FT_WRITE_UNIT) != ET_OK ||
        et_ram_storage_interface(&ram, (uint32_t)(ET_FT_BANK_BYTES), &storage) != ET_OK) {
        et_fail(ET_HARNESS_MODEL_FAILED, "storage set-up failed");
    }
    f = et_hio_open("flash.bin", 0);
    if (f >= 0) {
        et_read(f, et_flash.bytes, ET_FT_REGION_BYTES, "flash.bin has the wrong size");
        et_hio_close(f);
    }
    if (et_train_init() != ET_OK) {
        et_fail(ET_HARNESS_MODEL_FAILED, "et_train_init failed");
    }
    info.sequence = 0u;
    info.erase_count_a = 0u;
    info.erase_count_b = 0u;
    load_st = et_train_load(&storage, &info);
    if (load_st == ET_OK) {
        load_seq = info.sequence;
    } else if (boot != 1u || load_st != ET_ERR_STORAGE_EMPTY) {
        et_fail(ET_FT_NO_BANK, "no valid stored bank to boot from");
    }

    have_counter = et_counter_begin(&overhead);

    ev = et_open_with("eval.bin", ET_FT_EVAL_MAGIC, hdr, 2u);
    n_eval = et_get_u32(hdr + 4);
    if (et_get_u32(hdr + 8) != (uint32_t)ET_TRAIN_INPUT_BYTES) {
        et_fail(ET_HARNESS_SIZE_MISMATCH,
                        "eval.bin sample size differs from ET_TRAIN_INPUT_BYTES");
    }
    if (boot == 1u) {
        f = et_open_with("train.bin", ET_FT_TRAIN_MAGIC, hdr + 12, 3u);
        n_steps = et_get_u32(hdr + 16);
        if (et_get_u32(hdr + 20) != (uint32_t)ET_TRAIN_BATCH ||
            et_get_u32(hdr + 24) != (uint32_t)ET_TRAIN_INPUT_BYTES) {
            et_fail(ET_HARNESS_SIZE_MISMATCH,
                            "train.bin batch or sample size differs from the model");
        }
    } else {
        f = -1;
    }

    out = et_hio_open("result.bin", 1);
    if (out < 0) {
        et_fail(ET_HARNESS_WRITE_FAILED, "cannot create result.bin");
    }
    et_write(out, ET_FT_RESULT_MAGIC, 4u);
    et_write_u32(out, boot);
    et_write_u32(out, have_counter ? 1u : 0u);
    et_write_u32(out, overhead);
    et_write_u32(out, (uint32_t)load_st);
    et_write_u32(out, load_seq);
    et_write_u32(out, n_eval);
    et_write_u32(out, (uint32_t)ET_TRAIN_N_CLASSES);
    et_write_u32(out, want_features ? (uint32_t)ET_TRAIN_FEATURE_BYTES : 0u);
    et_write_u32(out, n_steps);

    /* Evaluation with the weights this boot started from (before any training). */
    for (i = 0u; i < n_eval; ++i) {
        uint32_t start, end;
        et_read(ev, et_x.bytes, ET_TRAIN_INPUT_BYTES, "eval.bin ends early");
        start = et_counter_read();
        st = et_train_infer(et_x.bytes, et_logits);
        end = et_counter_read();
        if (st != ET_OK) {
            et_fail(ET_HARNESS_MODEL_FAILED, "et_train_infer failed");
        }
        et_write_u32(out, et_count(have_counter, overhead, start, end));
        et_write(out, et_logits, sizeof et_logits);
#if ET_TRAIN_FEATURE_BYTES > 0
        if (want_features) {
            if (et_train_features(et_x.bytes, et_feat.bytes) != ET_OK) {
                et_fail(ET_HARNESS_MODEL_FAILED, "et_train_features failed");
            }
            et_write(out, et_feat.bytes, (size_t)ET_TRAIN_FEATURE_BYTES);
        }
#endif
    }
    et_hio_close(ev);

    if (boot == 1u) {
        et_guard guard;
        et_storage_segment segments[ET_TRAIN_N_SEGMENTS];
        et_train_segments(segments);
        start_rms = et_guard_params_rms(segments, ET_TRAIN_N_SEGMENTS);
        (void)et_guard_init(&guard, ET_TRAIN_GUARD_MAX_RATIO, ET_TRAIN_GUARD_MIN_LOSS, ET_TRAIN_GUARD_DECAY,
                            ET_TRAIN_GUARD_WARMUP);
        for (i = 0u; i < n_steps; ++i) {
            uint32_t start, end;
            float loss = 0.0f;
            et_guard_verdict verdict = ET_GUARD_ACCEPT;
            et_read(f, et_labels, sizeof et_labels, "train.bin ends early");
            et_read(f, et_x.bytes, sizeof et_x.bytes, "train.bin ends early");
            start = et_counter_read();
            st = et_train_forward_loss(et_x.bytes, et_labels, &loss);
            if (st == ET_OK) {
                st = et_guard_step(&guard, loss, &storage, ET_TRAIN_LAYOUT_TAG, segments,
                                   ET_TRAIN_N_SEGMENTS, &verdict);
                if (st == ET_ERR_STORAGE_EMPTY) {
                    /* Nothing committed yet: roll back to the compiled-in weights. */
                    st = et_train_init();
                }
                if (st == ET_OK && verdict == ET_GUARD_ACCEPT) {
                    st = et_train_backward_update(et_x.bytes);
                } else if (st == ET_OK) {
                    st = et_train_reset_optimizer();
                    ++diverged;
                }
            }
            end = et_counter_read();
            if (st != ET_OK) {
                et_fail(ET_HARNESS_MODEL_FAILED, "a training step failed");
            }
            et_write(out, &loss, 4u);
            et_write_u32(out, et_count(have_counter, overhead, start, end));
            et_write_u32(out, (uint32_t)verdict);
        }
        et_hio_close(f);
        if (n_steps > 0u) {
            /* The last update has not been checked by any loss yet: check what will be committed
             * (the loss on the last batch, and the parameters' RMS against the boot's start). */
            et_guard_verdict verdict = ET_GUARD_ACCEPT;
            st = et_train_forward_loss(et_x.bytes, et_labels, &final_loss);
            if (st == ET_OK) {
                st = et_guard_check(&guard, final_loss, &verdict);
            }
            final_verdict = (uint32_t)verdict;
            final_rms = et_guard_params_rms(segments, ET_TRAIN_N_SEGMENTS);
            if (st == ET_OK && verdict == ET_GUARD_ACCEPT) {
                st = et_guard_check_params(&guard, start_rms, final_rms, &verdict);
                final_verdict = verdict == ET_GUARD_ACCEPT ? 0u : 3u;
            }
            if (st == ET_OK && verdict != ET_GUARD_ACCEPT) {
                st = et_storage_load(&storage, ET_TRAIN_LAYOUT_TAG, segments, ET_TRAIN_N_SEGMENTS, 0);
                if (st == ET_ERR_STORAGE_EMPTY) {
                    st = et_train_init();
                }
            }
            if (st != ET_OK) {
                et_fail(ET_HARNESS_MODEL_FAILED, "checking the weights before the commit failed");
            }
            if (verdict != ET_GUARD_ACCEPT) {
                ++diverged;
            }
        }
        {
            uint32_t start = et_counter_read();
            commit_st = (int32_t)et_train_commit(&storage, &info);
            commit_instr = have_counter ? et_counter_elapsed(start, et_counter_read()) - overhead : 0u;
            commit_seq = info.sequence;
        }
        if (commit_st != 0) {
            et_fail(ET_FT_COMMIT_FAILED, "commit to the storage bank failed");
        }
        f = et_hio_open("flash.bin", 1);
        if (f < 0) {
            et_fail(ET_HARNESS_WRITE_FAILED, "cannot create flash.bin");
        }
        et_write(f, et_flash.bytes, ET_FT_REGION_BYTES);
        et_hio_close(f);
    }
    et_write_u32(out, (uint32_t)commit_st);
    et_write_u32(out, commit_seq);
    et_write_u32(out, commit_instr);
    et_write_u32(out, diverged);
    et_write(out, &final_loss, 4u);
    et_write_u32(out, final_verdict);
    et_write(out, &start_rms, 4u);
    et_write(out, &final_rms, 4u);
    et_write_u32(out, info.erase_count_a);
    et_write_u32(out, info.erase_count_b);
    et_hio_close(out);
    et_hio_exit(ET_HARNESS_OK);
}

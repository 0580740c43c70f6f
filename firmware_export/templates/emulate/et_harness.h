/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared helpers of the emulation harness (main.c) and the fine-tuning harness
 * (../finetune/main.c): exit statuses, little-endian words, failure exits, exact reads and
 * instruction counts. Like et_hio.h, not part of the runtime library: shipped firmware never
 * links it.
 *
 * Header-only on purpose: the helpers are file-static, so the compiler inlines them into each
 * main exactly as when they were written there, and the code around the measured call (hence
 * every instruction count) stays the same. Both builds already have this directory on the
 * include path (edgetrain/emulate/build.py). `unused` keeps -Werror quiet in a main that does
 * not need every helper.
 *
 * A main may define ET_HARNESS_NAME (a string literal) before including this header; it prefixes
 * every failure message.
 */
#ifndef ET_HARNESS_H
#define ET_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "et_counter.h"
#include "et_hio.h"

#ifndef ET_HARNESS_NAME
#define ET_HARNESS_NAME "edgetrain harness"
#endif

#define ET_HARNESS_HELPER static __attribute__((unused))

/* Exit statuses shared by both harnesses (mirrored in edgetrain/export/c/abi.py). */
enum et_harness_status {
    ET_HARNESS_OK = 0,
    ET_HARNESS_NO_INPUT = 2,
    ET_HARNESS_BAD_HEADER = 3,
    ET_HARNESS_SIZE_MISMATCH = 4,
    ET_HARNESS_SHORT_READ = 5,
    ET_HARNESS_NO_OUTPUT = 6,
    ET_HARNESS_WRITE_FAILED = 7,
    ET_HARNESS_MODEL_FAILED = 8,
    ET_HARNESS_COUNTER_STUCK = 9,
    ET_HARNESS_NON_FINITE_INPUT = 12  /* et_model_infer refused a NaN or +-inf input */
};

/* Statuses only the fine-tuning harness ends with. */
enum et_finetune_status {
    ET_FT_NO_BANK = 10,       /* an evaluation boot found no valid storage bank */
    ET_FT_COMMIT_FAILED = 11  /* committing the trained weights to storage failed */
};

/* The 4-byte magic that starts each file exchanged with the host (layouts: main.c and
 * ../finetune/main.c; mirrored in edgetrain/export/c/abi.py). */
#define ET_HARNESS_INPUTS_MAGIC "ETI1"  /* inputs.bin */
#define ET_HARNESS_OUTPUTS_MAGIC "ETO1" /* outputs.bin */
#define ET_FT_EVAL_MAGIC "ETE1"         /* eval.bin */
#define ET_FT_TRAIN_MAGIC "ETT1"        /* train.bin */
#define ET_FT_RESULT_MAGIC "ETF1"       /* result.bin */

ET_HARNESS_HELPER void et_put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v & 0xFFu);
    p[1] = (unsigned char)((v >> 8) & 0xFFu);
    p[2] = (unsigned char)((v >> 16) & 0xFFu);
    p[3] = (unsigned char)((v >> 24) & 0xFFu);
}

ET_HARNESS_HELPER uint32_t et_get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* Prints "<ET_HARNESS_NAME>: <what>" and exits with `status`. */
ET_HARNESS_HELPER void et_fail(int status, const char *what)
{
    et_hio_message(ET_HARNESS_NAME ": ");
    et_hio_message(what);
    et_hio_message("\n");
    et_hio_exit(status);
}

/* Reads exactly `len` bytes or fails with ET_HARNESS_SHORT_READ and the message `what`. */
ET_HARNESS_HELPER void et_read(et_hio_file f, void *buf, size_t len, const char *what)
{
    if (et_hio_read(f, buf, len) != len) {
        et_fail(ET_HARNESS_SHORT_READ, what);
    }
}

/* Starts the instruction counter; returns 1 if there is one. *overhead is then the cost of
 * reading the counter itself, else 0; a counter that does not advance fails with
 * ET_HARNESS_COUNTER_STUCK. */
ET_HARNESS_HELPER int et_counter_begin(uint32_t *overhead)
{
    const int have_counter = et_counter_start();
    *overhead = 0u;
    if (have_counter) {
        /* Two back-to-back reads measure the cost of reading the counter itself; it is
         * subtracted so a count covers only the measured call (argument set-up, call, body,
         * return). */
        uint32_t a = et_counter_read();
        uint32_t b = et_counter_read();
        *overhead = et_counter_elapsed(a, b);
        if (*overhead == 0u) {
            et_fail(ET_HARNESS_COUNTER_STUCK, "instruction counter does not advance");
        }
    }
    return have_counter;
}

/* Instructions between the reads `start` and `end` less the read overhead; 0 without a counter. */
ET_HARNESS_HELPER uint32_t et_count(int have_counter, uint32_t overhead, uint32_t start,
                                    uint32_t end)
{
    return have_counter ? et_counter_elapsed(start, end) - overhead : 0u;
}

#endif /* ET_HARNESS_H */

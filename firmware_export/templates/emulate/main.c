/* SPDX-License-Identifier: Apache-2.0 */
/*
 * edgetrain emulation harness: runs a generated model over a file of samples.
 *
 * Contract with the generated model (model.h):
 *   #define ET_MODEL_INPUT_BYTES  <bytes of one input sample>
 *   #define ET_MODEL_OUTPUT_BYTES <bytes of one output sample>
 *   <integer or enum type> et_model_infer(const void *input, void *output);  0 = success
 * Input and output are the raw C memory of the model's tensors (e.g. float32 or int8, row-major,
 * little-endian); the harness never interprets them.
 *
 * Files (little-endian, relative to the working directory):
 *   inputs.bin   "ETI1", u32 count, u32 sample_bytes, then count * sample_bytes
 *   outputs.bin  "ETO1", u32 count, u32 sample_bytes, u32 flags (bit 0: instruction counts
 *                valid), u32 counter_overhead, then per sample: u32 instructions, sample bytes
 * The exit status says what went wrong (enum et_harness_status in et_harness.h; mirrored in
 * edgetrain/emulate/exchange.py).
 *
 * Built with ET_HARNESS_RAW_INPUT, the samples are raw float32 values (ET_MODEL_INPUT_COUNT each)
 * that et_model_input_from_raw turns into the model's input before each inference (counts still
 * cover et_model_infer alone).
 */
#include <stddef.h>
#include <stdint.h>

#include "et_counter.h"
#include "et_harness.h"
#include "et_hio.h"
#include "et_status.h"
#include "model.h"

#if !defined(ET_MODEL_INPUT_BYTES) || !defined(ET_MODEL_OUTPUT_BYTES)
#error "model.h must define ET_MODEL_INPUT_BYTES and ET_MODEL_OUTPUT_BYTES"
#endif

#define ET_FLAG_COUNTS 1u
#define ET_HEADER_IN_BYTES 12u
#define ET_HEADER_OUT_BYTES 20u

/* Unions give the sample buffers the strictest alignment a model tensor needs (float, int32, a
 * pointer), and no more: every RAM buffer of the firmware is then 4-byte aligned with a size that
 * is a multiple of 4, so the link packs them without padding in any order and the memory plan
 * (edgetrain/device/ram_plan.py) is their sum. */
typedef union {
    unsigned char bytes[ET_MODEL_INPUT_BYTES];
    float align_float;
    int32_t align_int32;
    void *align_ptr;
} et_input_buffer;

typedef union {
    unsigned char bytes[4u + ET_MODEL_OUTPUT_BYTES];
    float align_float;
    int32_t align_int32;
    void *align_ptr;
} et_record_buffer;

#if defined(ET_HARNESS_RAW_INPUT)
#define ET_SAMPLE_BYTES (4u * (uint32_t)ET_MODEL_INPUT_COUNT)
static union {
    unsigned char bytes[ET_SAMPLE_BYTES];
    float values[ET_MODEL_INPUT_COUNT];
} et_raw;
#else
#define ET_SAMPLE_BYTES ((uint32_t)ET_MODEL_INPUT_BYTES)
#endif
static et_input_buffer et_input;
/* One output record: the u32 instruction count, then the output tensor. The tensor is written by
 * the model into its own aligned buffer and copied here, so the model sees aligned memory. */
static et_record_buffer et_record;
static union {
    unsigned char bytes[ET_MODEL_OUTPUT_BYTES];
    float align_float;
    int32_t align_int32;
    void *align_ptr;
} et_output;

int main(void)
{
    unsigned char header[ET_HEADER_OUT_BYTES];
    et_hio_file in_file;
    et_hio_file out_file;
    uint32_t count;
    uint32_t i;
    uint32_t overhead;
    int have_counter;

    in_file = et_hio_open("inputs.bin", 0);
    if (in_file < 0) {
        et_fail(ET_HARNESS_NO_INPUT, "cannot open inputs.bin");
    }
    if (et_hio_read(in_file, header, ET_HEADER_IN_BYTES) != ET_HEADER_IN_BYTES ||
        header[0] != (unsigned char)ET_HARNESS_INPUTS_MAGIC[0] ||
        header[1] != (unsigned char)ET_HARNESS_INPUTS_MAGIC[1] ||
        header[2] != (unsigned char)ET_HARNESS_INPUTS_MAGIC[2] ||
        header[3] != (unsigned char)ET_HARNESS_INPUTS_MAGIC[3]) {
        et_fail(ET_HARNESS_BAD_HEADER, "inputs.bin has no ETI1 header");
    }
    count = et_get_u32(header + 4);
    if (et_get_u32(header + 8) != ET_SAMPLE_BYTES) {
        et_fail(ET_HARNESS_SIZE_MISMATCH,
                        "input sample size differs from ET_MODEL_INPUT_BYTES");
    }

    out_file = et_hio_open("outputs.bin", 1);
    if (out_file < 0) {
        et_fail(ET_HARNESS_NO_OUTPUT, "cannot open outputs.bin");
    }

    /* Counts cover only the call to et_model_infer (argument set-up, call, body, return). */
    have_counter = et_counter_begin(&overhead);

    header[0] = (unsigned char)ET_HARNESS_OUTPUTS_MAGIC[0];
    header[1] = (unsigned char)ET_HARNESS_OUTPUTS_MAGIC[1];
    header[2] = (unsigned char)ET_HARNESS_OUTPUTS_MAGIC[2];
    header[3] = (unsigned char)ET_HARNESS_OUTPUTS_MAGIC[3];
    et_put_u32(header + 4, count);
    et_put_u32(header + 8, (uint32_t)ET_MODEL_OUTPUT_BYTES);
    et_put_u32(header + 12, have_counter ? ET_FLAG_COUNTS : 0u);
    et_put_u32(header + 16, overhead);
    if (et_hio_write(out_file, header, ET_HEADER_OUT_BYTES) != 0) {
        et_fail(ET_HARNESS_WRITE_FAILED, "cannot write outputs.bin");
    }

    for (i = 0u; i < count; ++i) {
        uint32_t start;
        uint32_t end;
        int status;
        size_t k;

#if defined(ET_HARNESS_RAW_INPUT)
        et_read(in_file, et_raw.bytes, ET_SAMPLE_BYTES, "inputs.bin ends before its sample count");
        status = (int)et_model_input_from_raw(et_raw.values, et_input.bytes);
        if (status == (int)ET_ERR_NON_FINITE) {
            et_fail(ET_HARNESS_NON_FINITE_INPUT, "a raw sample has a value without an int8 code");
        }
        if (status != 0) {
            et_fail(ET_HARNESS_MODEL_FAILED, "et_model_input_from_raw returned a non-zero status");
        }
#else
        et_read(in_file, et_input.bytes, ET_MODEL_INPUT_BYTES,
                        "inputs.bin ends before its sample count");
#endif
        /* Poison the output so a model that leaves bytes unwritten is caught by comparison. */
        for (k = 0u; k < (size_t)ET_MODEL_OUTPUT_BYTES; ++k) {
            et_output.bytes[k] = 0xA5u;
        }

        start = et_counter_read();
        status = (int)et_model_infer(et_input.bytes, et_output.bytes);
        end = et_counter_read();

        if (status == (int)ET_ERR_NON_FINITE) {
            et_fail(ET_HARNESS_NON_FINITE_INPUT, "an input sample holds NaN or +-inf");
        }
        if (status != 0) {
            et_fail(ET_HARNESS_MODEL_FAILED, "et_model_infer returned a non-zero status");
        }
        et_put_u32(et_record.bytes, et_count(have_counter, overhead, start, end));
        for (k = 0u; k < (size_t)ET_MODEL_OUTPUT_BYTES; ++k) {
            et_record.bytes[4u + k] = et_output.bytes[k];
        }
        if (et_hio_write(out_file, et_record.bytes, 4u + ET_MODEL_OUTPUT_BYTES) != 0) {
            et_fail(ET_HARNESS_WRITE_FAILED, "cannot write outputs.bin");
        }
    }

    et_hio_close(out_file);
    et_hio_close(in_file);
    et_hio_exit(ET_HARNESS_OK);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* edgetrain runtime: power-safe A/B storage of trainable parameters, and CRC32.
 *
 * Region layout (offsets relative to the region the port's callbacks address):
 *   bank A at [0, bank_size), bank B at [bank_size, 2 * bank_size)
 *   each bank:  header (ET_STORAGE_HEADER_BYTES = 32) at bank offset 0, then the payload,
 *               padded with erased bytes to a multiple of write_unit
 * Header, little-endian fields:
 *    0 u32 magic  "ETWB" (0x42575445)        16 u32 layout_tag (caller's id of the parameter set)
 *    4 u16 format version (1)                 20 u32 erase count of bank A
 *    6 u16 header bytes (32)                  24 u32 erase count of bank B
 *    8 u32 sequence number (newer = larger,   28 u32 CRC32 (IEEE) of header bytes 0..27 followed
 *          compared modulo 2^32)                     by the payload_len payload bytes
 *   12 u32 payload_len
 * Erase counts (wear): every header records how many times each bank has been erased for a
 * commit, the count of the bank it lives in included. A commit takes the largest counts of the
 * valid banks and adds one for the bank it erases. An erase whose commit did not complete (power
 * cut, failed write) is not recorded, so the counts are a lower bound; they restart from 0 only
 * when no bank is valid. (Banks written before the counts existed carry 0 there: the same
 * format version.)
 * The payload is the concatenation of the caller's segments, raw (native float layout: the banks
 * are not meant to move between CPUs of different byte order).
 *
 * Boot (et_storage_load): each bank whose magic, version, sizes and CRC check is valid; the valid
 * bank with the newest sequence number wins; no valid bank gives ET_ERR_STORAGE_EMPTY (then the
 * firmware keeps its compiled-in weights).
 *
 * Read errors (the read callback fails): a bank that cannot be read counts as not valid, so load
 * and commit work with the other bank. Load falls back to the other valid bank when reading the
 * newest one fails or reads back differently (CRC mismatch while copying). Commit never writes the
 * newest valid bank, so it targets the unreadable one (erasing it may cure it; if not, the commit
 * fails and the previous commit stays). Only when no bank is valid and one could not be read does
 * load return ET_ERR_STORAGE_IO instead of ET_ERR_STORAGE_EMPTY (the unreadable bank may hold a
 * commit); when neither bank can be read, load and commit return ET_ERR_STORAGE_IO.
 *
 * Integrity, not authenticity: the CRC32 detects accidental corruption (bit flips, torn or failed
 * writes, read errors) - it is no protection against tampering. Anyone able to write the flash can
 * store other weights with a matching CRC. Authenticating stored weights needs a keyed MAC (e.g.
 * HMAC-SHA256 or AES-CMAC with a per-device key kept out of the readable flash) over the same
 * bytes, checked before the weights are used; this format does not carry one.
 *
 * Commit (et_storage_commit) writes the bank that does NOT hold the newest valid commit, in this
 * order:
 *   1. erase the bank's sectors,
 *   2. write the payload,
 *   3. read the payload back and check its CRC (a failed write is reported, the header never
 *      written),
 *   4. write the header, its CRC last (the header is one write call; its bytes go out in order).
 * Why every interruption is safe: the newest valid bank is never erased or written, so until the
 * new header is complete the previous commit stays the newest valid bank. A power cut in steps 1-3
 * leaves the target bank without a valid header (erased, or the old header over a changed payload,
 * which the CRC rejects, or an older sequence number if the erase had not yet changed anything).
 * A cut in step 4 leaves a header whose CRC field (its last bytes) is incomplete, so it does not
 * match - unless the unwritten bytes already read 0xFF, and then the bank is byte for byte the
 * completed commit. Only the complete header, written after the complete, verified payload, makes
 * the new bank valid, and it then carries the higher sequence number. NOR semantics are assumed: erase sets bytes to 0xFF, a
 * write can only clear bits; a cut in the middle of a byte may leave any bits of it cleared.
 *
 * Optimizer state is not part of a commit unless the caller adds its slots as segments.
 */
#ifndef ET_STORAGE_H
#define ET_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "et_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ET_STORAGE_MAGIC 0x42575445u  /* "ETWB" little-endian */
#define ET_STORAGE_VERSION 1u
#define ET_STORAGE_HEADER_BYTES 32u
#define ET_STORAGE_MAX_WRITE_UNIT 32u  /* e.g. 32-byte flash words of an STM32H7 */

/* The board port: a flash driver behind three callbacks. Callbacks return 0 on success. */
typedef struct {
    void *ctx;
    int (*read)(void *ctx, uint32_t offset, void *buf, uint32_t len);
    /* offset and len are multiples of erase_size. */
    int (*erase)(void *ctx, uint32_t offset, uint32_t len);
    /* offset and len are multiples of write_unit; the range has been erased since last written. */
    int (*write)(void *ctx, uint32_t offset, const void *buf, uint32_t len);
    uint32_t bank_size;   /* bytes per bank, a multiple of erase_size */
    uint32_t erase_size;  /* flash sector (erase granularity) */
    uint32_t write_unit;  /* program granularity: 1, 2, 4, 8, 16 or 32, dividing 32 */
} et_storage;

/* One contiguous piece of the payload, e.g. one layer's weights. */
typedef struct {
    void *data;
    uint32_t size;  /* bytes */
} et_storage_segment;

/* What a load found, or what a commit wrote. */
typedef struct {
    uint32_t sequence;  /* sequence number of the loaded (committed) commit */
    int32_t bank;       /* 0 = A, 1 = B */
    int32_t valid_banks;  /* how many banks passed the checks (1 or 2) */
    uint32_t erase_count_a;  /* erases of bank A as recorded (after a commit: including its own) */
    uint32_t erase_count_b;  /* erases of bank B */
} et_storage_info;

/* CRC-32/IEEE (zlib's crc32): crc = et_crc32_update(0, data, len) over one or more pieces.
 * Nibble-table implementation: 64 bytes of const table. */
uint32_t et_crc32_update(uint32_t crc, const void *data, size_t len);

/* Checks the geometry (sizes and alignments) of a storage description. */
et_status et_storage_check(const et_storage *storage);

/* Bytes a bank needs for a payload of payload_len bytes (header + padded payload). */
uint32_t et_storage_bank_bytes(const et_storage *storage, uint32_t payload_len);

/* Commits the segments as one new version. `info` may be NULL; otherwise it receives the
 * sequence number and bank written. */
et_status et_storage_commit(const et_storage *storage, uint32_t layout_tag,
                            const et_storage_segment *segments, int32_t n_segments,
                            et_storage_info *info);

/* Loads the newest valid commit into the segments. The stored layout_tag and payload length must
 * equal the requested ones (ET_ERR_STORAGE_LAYOUT otherwise, segments untouched). The payload is
 * CRC-checked again while it is copied; on a mismatch or a failed read the other valid bank is
 * tried. When the load fails after copying began (ET_ERR_STORAGE_IO, ET_ERR_STORAGE_VERIFY) the
 * segments hold unspecified bytes: restore the compiled-in weights. `info` may be NULL. */
et_status et_storage_load(const et_storage *storage, uint32_t layout_tag,
                          const et_storage_segment *segments, int32_t n_segments,
                          et_storage_info *info);

#ifdef __cplusplus
}
#endif

#endif /* ET_STORAGE_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* CRC-32/IEEE (reflected polynomial 0xEDB88320, init and final xor 0xFFFFFFFF), as zlib's crc32.
 * Four bits per step from a 16-entry table: 64 bytes of flash instead of the 1 KiB byte table,
 * at two table steps per byte. Weight commits are rare, so the speed is not critical. */
#include "et_storage.h"

static const uint32_t et_crc32_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t et_crc32_update(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data;
    size_t i;
    crc = ~crc;
    for (i = 0; i < len; ++i) {
        crc ^= p[i];
        crc = (crc >> 4) ^ et_crc32_nibble[crc & 15u];
        crc = (crc >> 4) ^ et_crc32_nibble[crc & 15u];
    }
    return ~crc;
}

/* Test driver for the STM32F4 flash port under unicorn (tests/test_storage_stm32f4.py): the test
 * calls these with registers; `d` points at a work area in the emulator's RAM. No static data
 * (the flat image keeps only code and constants). */
#include <stdint.h>

#include "et_storage.h"
#include "et_storage_stm32f4.h"

#define DRV_TAG 0x5446344Eu

typedef struct {
    et_stm32f4_flash flash;
    et_storage storage;
    et_storage_info info;
    uint32_t payload_len;
    unsigned char payload[4096];
} drv_t;

int drv_init(drv_t *d, uint32_t bank_size);
int drv_commit(drv_t *d, uint32_t seed);
int drv_load(drv_t *d);

int drv_init(drv_t *d, uint32_t bank_size)
{
    return (int)et_stm32f4_flash_interface(&d->flash, bank_size, &d->storage);
}

/* Commits payload_len bytes of a xorshift stream seeded with `seed`. */
int drv_commit(drv_t *d, uint32_t seed)
{
    et_storage_segment seg;
    uint32_t x = seed != 0u ? seed : 1u;
    uint32_t i;
    for (i = 0u; i < d->payload_len; ++i) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        d->payload[i] = (unsigned char)(x >> 24);
    }
    seg.data = d->payload;
    seg.size = d->payload_len;
    return (int)et_storage_commit(&d->storage, DRV_TAG, &seg, 1, &d->info);
}

int drv_load(drv_t *d)
{
    et_storage_segment seg;
    seg.data = d->payload;
    seg.size = d->payload_len;
    return (int)et_storage_load(&d->storage, DRV_TAG, &seg, 1, &d->info);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Instruction counter for the emulation harness.
 *
 * With ET_COUNTER_STM32_TIM defined (by the build, from the target TOML's [instruction_counter]
 * table) this drives an STM32 general-purpose timer as a free-running up-counter with PSC = 0.
 * Under QEMU with `-icount shift=0` one instruction takes exactly 1 ns of virtual time and
 * QEMU's stm32f2xx timer model ticks at 1 GHz, so the counter advances once per executed
 * instruction: differences are instruction counts (deterministic), not silicon cycles. On real
 * silicon the same code counts timer-clock cycles instead.
 *
 * Build-time macros (all emitted by edgetrain/emulate/build.py):
 *   ET_COUNTER_BASE      timer base address (TIM2: 0x40000000)
 *   ET_COUNTER_BITS      counter width, 16 or 32 (TIM2 on F2/F4/F7 is 32-bit)
 *   ET_COUNTER_RCC_REG   optional: RCC enable register to set before touching the timer
 *   ET_COUNTER_RCC_MASK  bit(s) to set in it (TIM2EN = bit 0 of RCC_APB1ENR)
 * Without ET_COUNTER_STM32_TIM (host, boards without such a timer) there is no counter.
 */
#ifndef ET_COUNTER_H
#define ET_COUNTER_H

#include <stdint.h>

#if defined(ET_COUNTER_STM32_TIM)

#if !defined(ET_COUNTER_BASE) || !defined(ET_COUNTER_BITS)
#error "ET_COUNTER_STM32_TIM needs ET_COUNTER_BASE and ET_COUNTER_BITS"
#endif

#define ET_TIM_REG(off) (*(volatile uint32_t *)((uintptr_t)(ET_COUNTER_BASE) + (off)))
#define ET_TIM_CR1 ET_TIM_REG(0x00u)
#define ET_TIM_EGR ET_TIM_REG(0x14u)
#define ET_TIM_CNT ET_TIM_REG(0x24u)
#define ET_TIM_PSC ET_TIM_REG(0x28u)
#define ET_TIM_ARR ET_TIM_REG(0x2Cu)

#if ET_COUNTER_BITS >= 32
#define ET_COUNTER_MASK 0xFFFFFFFFu
#else
#define ET_COUNTER_MASK ((uint32_t)((1ul << (ET_COUNTER_BITS)) - 1ul))
#endif

/* Returns 1: a counter exists. */
static int et_counter_start(void)
{
#if defined(ET_COUNTER_RCC_REG)
    /* Real silicon ignores timer writes until its bus clock is on. QEMU 7.2 does not model
     * RCC (netduinoplus2 maps it as an unimplemented device, netduino2 leaves it unmapped) and
     * silently ignores the write; its timer always runs. */
    *(volatile uint32_t *)(uintptr_t)(ET_COUNTER_RCC_REG) |= (uint32_t)(ET_COUNTER_RCC_MASK);
    (void)*(volatile uint32_t *)(uintptr_t)(ET_COUNTER_RCC_REG); /* let the clock settle */
#endif
    ET_TIM_CR1 = 0u;              /* stop, up-counting, no one-pulse */
    ET_TIM_PSC = 0u;              /* one tick per timer clock (= per instruction under QEMU) */
    ET_TIM_ARR = ET_COUNTER_MASK; /* wrap only at the counter's full width */
    ET_TIM_EGR = 1u;              /* UG: load PSC now (it is buffered on silicon), clear CNT */
    ET_TIM_CNT = 0u;
    ET_TIM_CR1 = 1u;              /* CEN */
    return 1;
}

static uint32_t et_counter_read(void)
{
    return ET_TIM_CNT;
}

/* Elapsed ticks between two reads; modular, so one wrap of the counter is harmless. A 16-bit
 * counter therefore cannot measure spans of 65536 instructions or more. */
static uint32_t et_counter_elapsed(uint32_t start, uint32_t end)
{
    return (end - start) & ET_COUNTER_MASK;
}

#else /* no counter */

static int et_counter_start(void)
{
    return 0;
}

static uint32_t et_counter_read(void)
{
    return 0u;
}

static uint32_t et_counter_elapsed(uint32_t start, uint32_t end)
{
    (void)start;
    (void)end;
    return 0u;
}

#endif

#endif /* ET_COUNTER_H */

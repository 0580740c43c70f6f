/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Minimal start-up code shared by every Cortex-M target (M3, M4F, M7).
 *
 * Only the 16 core exception vectors are provided: edgetrain firmware polls and never enables a
 * peripheral interrupt, so a device-specific IRQ table would only cost flash. Handlers are weak
 * so a harness (or a user's board code) can override them, e.g. to report a HardFault through
 * semihosting instead of spinning until the emulator's timeout.
 *
 * Memory symbols come from the target's linker script (targets/ld/cortexm_sections.ld).
 */
#include <stdint.h>

extern uint32_t _sidata; /* load address of .data in flash */
extern uint32_t _sdata;  /* .data start in RAM */
extern uint32_t _edata;
extern uint32_t _sbss;
extern uint32_t _ebss;
extern uint32_t _estack; /* top of RAM: initial main stack pointer */

int main(void);
void Reset_Handler(void);
void et_default_handler(void);
void et_on_main_return(int status);

/* Weak so a harness can turn faults into an exit status. */
void NMI_Handler(void) __attribute__((weak, alias("et_default_handler")));
void HardFault_Handler(void) __attribute__((weak, alias("et_default_handler")));
void MemManage_Handler(void) __attribute__((weak, alias("et_default_handler")));
void BusFault_Handler(void) __attribute__((weak, alias("et_default_handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("et_default_handler")));
void SVC_Handler(void) __attribute__((weak, alias("et_default_handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("et_default_handler")));
void PendSV_Handler(void) __attribute__((weak, alias("et_default_handler")));
void SysTick_Handler(void) __attribute__((weak, alias("et_default_handler")));

typedef void (*et_vector_fn)(void);

/* A struct rather than an array of function pointers: ISO C forbids converting the stack's
 * object address to a function pointer, and -pedantic would reject that. */
struct et_vector_table {
    uint32_t *initial_sp;
    et_vector_fn handlers[15];
};

__attribute__((section(".isr_vector"), used))
const struct et_vector_table et_vectors = {
    &_estack,
    {
        Reset_Handler,
        NMI_Handler,
        HardFault_Handler,
        MemManage_Handler,
        BusFault_Handler,
        UsageFault_Handler,
        0, 0, 0, 0, /* reserved */
        SVC_Handler,
        DebugMon_Handler,
        0, /* reserved */
        PendSV_Handler,
        SysTick_Handler,
    },
};

void et_default_handler(void)
{
    for (;;) {
    }
}

/* Called if main() returns. A board has nowhere to return to, so park the core; the emulation
 * harness overrides this to exit the emulator with the status. */
__attribute__((weak)) void et_on_main_return(int status)
{
    (void)status;
    for (;;) {
    }
}

void Reset_Handler(void)
{
    uint32_t *src = &_sidata;
    uint32_t *dst;

    for (dst = &_sdata; dst < &_edata; ++dst) {
        *dst = *src++;
    }
    for (dst = &_sbss; dst < &_ebss; ++dst) {
        *dst = 0u;
    }

#if defined(__ARM_FP)
    /* Grant full access to CP10/CP11 (the FPU) before any floating-point instruction runs:
     * with -mfloat-abi=hard the compiler may emit VFP code anywhere after this point. */
    *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20);
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif

    et_on_main_return(main());
}

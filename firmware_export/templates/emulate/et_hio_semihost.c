/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Harness I/O over raw ARM semihosting.
 *
 * Why raw `bkpt 0xab` calls instead of newlib's rdimon.specs: rdimon pulls in its own start-up
 * glue, a heap and stdio buffering, adds thousands of instructions of set-up before main and
 * depends on the newlib build's semihosting-feature probing to decide how exit() reports a
 * status. Four calls written here are predictable, cost nothing inside the measured region and
 * keep the firmware free of malloc.
 *
 * QEMU must run with -semihosting-config enable=on,target=native; file names are relative to
 * QEMU's working directory.
 */
#include <stdint.h>

#include "et_hio.h"

enum {
    ET_SYS_OPEN = 0x01,
    ET_SYS_CLOSE = 0x02,
    ET_SYS_WRITE0 = 0x04,
    ET_SYS_WRITE = 0x05,
    ET_SYS_READ = 0x06,
    /* SYS_EXIT_EXTENDED carries a status code on AArch32; plain SYS_EXIT (0x18) only
     * distinguishes "application exit" (status 0) from everything else (status 1). */
    ET_SYS_EXIT_EXTENDED = 0x20
};

#define ET_ADP_STOPPED_APPLICATION_EXIT 0x20026u

/* Semihosting open modes: index into {"r","rb","r+","r+b","w","wb",...}. */
#define ET_SH_MODE_RB 1u
#define ET_SH_MODE_WB 5u

static uintptr_t et_semihost_call(uintptr_t op, const void *args)
{
    register uintptr_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = args;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static size_t et_strlen(const char *s)
{
    size_t n = 0;
    while (s[n] != '\0') {
        ++n;
    }
    return n;
}

et_hio_file et_hio_open(const char *name, int for_writing)
{
    uintptr_t args[3];
    args[0] = (uintptr_t)name;
    args[1] = for_writing ? ET_SH_MODE_WB : ET_SH_MODE_RB;
    args[2] = (uintptr_t)et_strlen(name);
    return (et_hio_file)(intptr_t)et_semihost_call(ET_SYS_OPEN, args);
}

size_t et_hio_read(et_hio_file file, void *buf, size_t len)
{
    uintptr_t args[3];
    uintptr_t not_read;
    args[0] = (uintptr_t)file;
    args[1] = (uintptr_t)buf;
    args[2] = (uintptr_t)len;
    /* SYS_READ returns the number of bytes NOT read. */
    not_read = et_semihost_call(ET_SYS_READ, args);
    return not_read > len ? 0u : len - (size_t)not_read;
}

int et_hio_write(et_hio_file file, const void *buf, size_t len)
{
    uintptr_t args[3];
    args[0] = (uintptr_t)file;
    args[1] = (uintptr_t)buf;
    args[2] = (uintptr_t)len;
    /* SYS_WRITE returns the number of bytes NOT written. */
    return et_semihost_call(ET_SYS_WRITE, args) == 0u ? 0 : -1;
}

void et_hio_close(et_hio_file file)
{
    uintptr_t args[1];
    args[0] = (uintptr_t)file;
    (void)et_semihost_call(ET_SYS_CLOSE, args);
}

void et_hio_message(const char *text)
{
    /* SYS_WRITE0 prints to the debug console without opening ":tt" first. */
    (void)et_semihost_call(ET_SYS_WRITE0, text);
}

void et_hio_exit(int status)
{
    uintptr_t args[2];
    args[0] = ET_ADP_STOPPED_APPLICATION_EXIT;
    args[1] = (uintptr_t)(uint32_t)status;
    (void)et_semihost_call(ET_SYS_EXIT_EXTENDED, args);
    for (;;) {
        /* Unreachable under an emulator; without a debugger, park the core. */
    }
}

/* newlib's exit() ends here, so a model or test calling exit(n) also ends the emulator with n. */
void _exit(int status) __attribute__((noreturn));
void _exit(int status)
{
    et_hio_exit(status);
}

/* Overrides the weak hook in cortexm_startup.c. */
void et_on_main_return(int status);
void et_on_main_return(int status)
{
    et_hio_exit(status);
}

/* Faults end the run at once with a recognisable status instead of spinning until the Python
 * side's timeout. The statuses are et_hio.h's ET_HIO_EXIT_*. */
void HardFault_Handler(void);
void MemManage_Handler(void);
void BusFault_Handler(void);
void UsageFault_Handler(void);

void HardFault_Handler(void)
{
    et_hio_message("edgetrain harness: HardFault\n");
    et_hio_exit(ET_HIO_EXIT_HARDFAULT);
}

void MemManage_Handler(void)
{
    et_hio_message("edgetrain harness: MemManage fault\n");
    et_hio_exit(ET_HIO_EXIT_MEMMANAGE);
}

void BusFault_Handler(void)
{
    et_hio_message("edgetrain harness: BusFault\n");
    et_hio_exit(ET_HIO_EXIT_BUSFAULT);
}

void UsageFault_Handler(void)
{
    et_hio_message("edgetrain harness: UsageFault\n");
    et_hio_exit(ET_HIO_EXIT_USAGEFAULT);
}

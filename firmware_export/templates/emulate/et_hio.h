/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Harness I/O: the few file and exit primitives the emulation harness (main.c) needs.
 *
 * Two implementations share this interface so that one main.c runs everywhere:
 *   et_hio_semihost.c  raw ARM semihosting (bkpt 0xab) for QEMU targets
 *   et_hio_stdio.c     C stdio for the host build
 * Neither is part of the runtime library: shipped firmware never links them.
 */
#ifndef ET_HIO_H
#define ET_HIO_H

#include <stddef.h>

/* A file handle; negative means the open failed. */
typedef int et_hio_file;

et_hio_file et_hio_open(const char *name, int for_writing);
/* Returns the number of bytes actually read (short only at end of file or on error). */
size_t et_hio_read(et_hio_file file, void *buf, size_t len);
/* Returns 0 when every byte was written. */
int et_hio_write(et_hio_file file, const void *buf, size_t len);
void et_hio_close(et_hio_file file);
/* Diagnostic text for a human (QEMU's stdout / the host's stderr). */
void et_hio_message(const char *text);
/* Ends the program; the status becomes the emulator's (or process's) exit status. */
void et_hio_exit(int status) __attribute__((noreturn));

/* Exit statuses of the fault handlers (et_hio_semihost.c): a fault ends the run at once with one
 * of these instead of spinning until the host's timeout. Mirrored in edgetrain/export/c/abi.py. */
#define ET_HIO_EXIT_HARDFAULT 71
#define ET_HIO_EXIT_MEMMANAGE 72
#define ET_HIO_EXIT_BUSFAULT 73
#define ET_HIO_EXIT_USAGEFAULT 74

#endif /* ET_HIO_H */

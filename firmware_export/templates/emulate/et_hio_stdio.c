/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Harness I/O over C stdio, for the host (gcc) build of the emulation harness.
 */
#include <stdio.h>
#include <stdlib.h>

#include "et_hio.h"

#define ET_HIO_MAX_FILES 4

static FILE *et_hio_files[ET_HIO_MAX_FILES];

et_hio_file et_hio_open(const char *name, int for_writing)
{
    int i;
    for (i = 0; i < ET_HIO_MAX_FILES; ++i) {
        if (et_hio_files[i] == NULL) {
            FILE *f = fopen(name, for_writing ? "wb" : "rb");
            if (f == NULL) {
                return -1;
            }
            et_hio_files[i] = f;
            return i;
        }
    }
    return -1;
}

size_t et_hio_read(et_hio_file file, void *buf, size_t len)
{
    if (file < 0 || file >= ET_HIO_MAX_FILES || et_hio_files[file] == NULL) {
        return 0u;
    }
    return fread(buf, 1u, len, et_hio_files[file]);
}

int et_hio_write(et_hio_file file, const void *buf, size_t len)
{
    if (file < 0 || file >= ET_HIO_MAX_FILES || et_hio_files[file] == NULL) {
        return -1;
    }
    return fwrite(buf, 1u, len, et_hio_files[file]) == len ? 0 : -1;
}

void et_hio_close(et_hio_file file)
{
    if (file >= 0 && file < ET_HIO_MAX_FILES && et_hio_files[file] != NULL) {
        (void)fclose(et_hio_files[file]);
        et_hio_files[file] = NULL;
    }
}

void et_hio_message(const char *text)
{
    (void)fputs(text, stderr);
}

void et_hio_exit(int status)
{
    exit(status);
}

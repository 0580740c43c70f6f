/* What the host test drivers share: reading their input file and taking header fields and arrays
 * from it. Include once, in the driver's single translation unit, after defining DRIVER_NAME (the
 * prefix of its error messages).
 *
 * The input is read whole; `take` copies each piece into its own exactly-sized heap block, so
 * AddressSanitizer flags any out-of-bounds access by a kernel. A driver failure (a short file, no
 * memory) exits with status 2. Test scaffolding only: not part of the runtime.
 */
#ifndef ET_TEST_DRIVER_IO_H
#define ET_TEST_DRIVER_IO_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef DRIVER_NAME
#error "define DRIVER_NAME before including driver_io.h"
#endif

static unsigned char *g_in;
static size_t g_len;
static size_t g_pos;

static void die(const char *msg)
{
    fprintf(stderr, DRIVER_NAME ": %s\n", msg);
    exit(2);
}

static void *take(size_t n)
{
    void *p;
    if (g_pos + n > g_len) {
        die("input file too short");
    }
    /* malloc(0) may return NULL; keep one byte so pointers stay valid and distinct. */
    p = malloc(n > 0 ? n : 1);
    if (p == NULL) {
        die("out of memory");
    }
    memcpy(p, g_in + g_pos, n);
    g_pos += n;
    return p;
}

static int32_t hdr(void)
{
    int32_t v;
    int32_t *p = (int32_t *)take(sizeof v);
    v = *p;
    free(p);
    return v;
}

static float hdr_f32(void)
{
    float v;
    float *p = (float *)take(sizeof v);
    v = *p;
    free(p);
    return v;
}

/* Read the whole input file into g_in. */
static void load_input(const char *path)
{
    FILE *f = fopen(path, "rb");
    long size;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        die("cannot read input");
    }
    g_len = (size_t)size;
    g_in = (unsigned char *)malloc(g_len + 1);
    if (g_in == NULL || fread(g_in, 1, g_len, f) != g_len) {
        die("cannot read input");
    }
    fclose(f);
}

#endif /* ET_TEST_DRIVER_IO_H */

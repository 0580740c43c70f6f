/* Test scaffolding: see io.h. */
#include "io.h"

#include <stdio.h>
#include <stdlib.h>

void io_die(const char *msg)
{
    fprintf(stderr, "driver: %s\n", msg);
    exit(2);
}

static FILE *io_open(const char *dir, const char *name, const char *how)
{
    char path[1024];
    FILE *f;
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        io_die("path too long");
    }
    f = fopen(path, how);
    if (f == NULL) {
        fprintf(stderr, "driver: cannot open %s\n", path);
        exit(2);
    }
    return f;
}

void io_read_into(const char *dir, const char *name, void *dst, size_t bytes)
{
    FILE *f = io_open(dir, name, "rb");
    char extra;
    if (fread(dst, 1, bytes, f) != bytes || fread(&extra, 1, 1, f) != 0) {
        fprintf(stderr, "driver: %s does not hold exactly %lu bytes\n", name, (unsigned long)bytes);
        exit(2);
    }
    fclose(f);
}

void *io_read(const char *dir, const char *name, size_t bytes)
{
    void *p = malloc(bytes > 0 ? bytes : 1);
    if (p == NULL) {
        io_die("out of memory");
    }
    io_read_into(dir, name, p, bytes);
    return p;
}

void io_write(const char *dir, const char *name, const void *data, size_t bytes)
{
    FILE *f = io_open(dir, name, "wb");
    if (fwrite(data, 1, bytes, f) != bytes || fclose(f) != 0) {
        io_die("write failed");
    }
}

/* Test scaffolding: whole-file binary I/O for the C training drivers. */
#ifndef TRAIN_IO_H
#define TRAIN_IO_H

#include <stddef.h>

/* Reads DIR/NAME, which must hold exactly `bytes` bytes, into a fresh heap block. Exits on error. */
void *io_read(const char *dir, const char *name, size_t bytes);
/* Reads exactly `bytes` bytes of DIR/NAME into dst. */
void io_read_into(const char *dir, const char *name, void *dst, size_t bytes);
void io_write(const char *dir, const char *name, const void *data, size_t bytes);
void io_die(const char *msg);

#endif

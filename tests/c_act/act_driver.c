/* Host test driver for the activation kernels (et_activation.h): `act_driver OP IN.bin OUT.bin`.
 *
 * IN.bin (little-endian, packed by tests/test_activation_kernels.py):
 *   forward  OP = leaky_relu | sigmoid | tanh | hard_swish:
 *            int32 n, float alpha, float x[n]                 -> OUT: float y[n]
 *   backward OP = <forward op>_backward:
 *            int32 n, float alpha, float saved[n], float dy[n] -> OUT: float dx[n]
 *            (saved is the forward output y, or the input x for hard_swish)
 *   OP = lut: int32 n, int8 table[256], int8 x[n]              -> OUT: int8 y[n]
 *   OP = errors: no input; checks every kernel's argument checks -> OUT: "ok"
 * Forward kernels and the lookup also run in place on a copy, which must give the same bytes.
 * Every array lives in its own exactly-sized heap block so AddressSanitizer flags any read or
 * write past it. Exit status 0: the kernel returned ET_OK; 1: a kernel failed; 2: bad usage.
 * Test scaffolding only: not part of the runtime.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "et_activation.h"

static unsigned char *g_in;
static size_t g_len;
static size_t g_pos;

static void die(const char *msg)
{
    fprintf(stderr, "act_driver: %s\n", msg);
    exit(2);
}

static void fail(const char *what, et_status st)
{
    fprintf(stderr, "act_driver: %s returned %s\n", what, et_status_str(st));
    exit(1);
}

static void *take(size_t n)
{
    void *p;
    if (g_pos + n > g_len) {
        die("input file too short");
    }
    p = malloc(n > 0 ? n : 1);
    if (p == NULL) {
        die("out of memory");
    }
    memcpy(p, g_in + g_pos, n);
    g_pos += n;
    return p;
}

static void *alloc(size_t n)
{
    void *p = malloc(n > 0 ? n : 1);
    if (p == NULL) {
        die("out of memory");
    }
    return p;
}

static void read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    long len;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        die("cannot read input");
    }
    g_len = (size_t)len;
    g_in = (unsigned char *)alloc(g_len);
    if (fread(g_in, 1, g_len, f) != g_len) {
        die("cannot read input");
    }
    fclose(f);
}

static void write_out(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        die("cannot write output");
    }
}

static int32_t hdr_i32(void)
{
    int32_t v;
    void *p = take(sizeof v);
    memcpy(&v, p, sizeof v);
    free(p);
    return v;
}

static float hdr_f32(void)
{
    float v;
    void *p = take(sizeof v);
    memcpy(&v, p, sizeof v);
    free(p);
    return v;
}

/* Forward: one activation kernel, out of place and in place. */
static et_status forward(const char *op, const float *x, float *y, int32_t n, float alpha)
{
    if (strcmp(op, "leaky_relu") == 0) {
        return et_leaky_relu_f32(x, y, n, alpha);
    }
    if (strcmp(op, "sigmoid") == 0) {
        return et_sigmoid_f32(x, y, n);
    }
    if (strcmp(op, "tanh") == 0) {
        return et_tanh_f32(x, y, n);
    }
    if (strcmp(op, "hard_swish") == 0) {
        return et_hard_swish_f32(x, y, n);
    }
    die("unknown op");
    return ET_ERR_BAD_PARAM;
}

static et_status backward(const char *op, const float *saved, float *dy, int32_t n, float alpha)
{
    if (strcmp(op, "leaky_relu_backward") == 0) {
        return et_leaky_relu_f32_backward(saved, dy, n, alpha);
    }
    if (strcmp(op, "sigmoid_backward") == 0) {
        return et_sigmoid_f32_backward(saved, dy, n);
    }
    if (strcmp(op, "tanh_backward") == 0) {
        return et_tanh_f32_backward(saved, dy, n);
    }
    if (strcmp(op, "hard_swish_backward") == 0) {
        return et_hard_swish_f32_backward(saved, dy, n);
    }
    die("unknown op");
    return ET_ERR_BAD_PARAM;
}

static void run_forward(const char *op, const char *out_path)
{
    const int32_t n = hdr_i32();
    const float alpha = hdr_f32();
    const size_t bytes = (size_t)n * sizeof(float);
    float *x = (float *)take(bytes);
    float *y = (float *)alloc(bytes);
    float *inplace = (float *)alloc(bytes);
    et_status st;
    memcpy(inplace, x, bytes);
    st = forward(op, x, y, n, alpha);
    if (st != ET_OK) {
        fail(op, st);
    }
    st = forward(op, inplace, inplace, n, alpha);
    if (st != ET_OK || memcmp(inplace, y, bytes) != 0) {
        die("in-place result differs");
    }
    write_out(out_path, y, bytes);
    free(x);
    free(y);
    free(inplace);
}

static void run_backward(const char *op, const char *out_path)
{
    const int32_t n = hdr_i32();
    const float alpha = hdr_f32();
    const size_t bytes = (size_t)n * sizeof(float);
    float *saved = (float *)take(bytes);
    float *dy = (float *)take(bytes);
    const et_status st = backward(op, saved, dy, n, alpha);
    if (st != ET_OK) {
        fail(op, st);
    }
    write_out(out_path, dy, bytes);
    free(saved);
    free(dy);
}

static void run_lut(const char *out_path)
{
    const int32_t n = hdr_i32();
    int8_t *table = (int8_t *)take(256);
    int8_t *x = (int8_t *)take((size_t)n);
    int8_t *y = (int8_t *)alloc((size_t)n);
    et_status st = et_lut_s8(x, y, n, table);
    if (st != ET_OK) {
        fail("et_lut_s8", st);
    }
    st = et_lut_s8(x, x, n, table);
    if (st != ET_OK || memcmp(x, y, (size_t)n) != 0) {
        die("in-place lookup differs");
    }
    write_out(out_path, y, (size_t)n);
    free(table);
    free(x);
    free(y);
}

static int g_checks;

static void expect(et_status got, et_status want, const char *what)
{
    ++g_checks;
    if (got != want) {
        fprintf(stderr, "act_driver: %s gave %s, expected %s\n", what, et_status_str(got), et_status_str(want));
        exit(1);
    }
}

static void run_errors(const char *out_path)
{
    float x[2] = {1.0f, -1.0f};
    float y[2] = {0.0f, 0.0f};
    int8_t q[2] = {0, 0};
    int8_t table[256];
    const float nan = strtof("nan", NULL);
    const float bad_alpha[] = {0.0f, 1.0f, -0.5f, 2.0f};
    size_t i;
    memset(table, 0, sizeof table);

    expect(et_leaky_relu_f32(NULL, y, 2, 0.1f), ET_ERR_NULL_ARG, "leaky_relu NULL input");
    expect(et_leaky_relu_f32(x, NULL, 2, 0.1f), ET_ERR_NULL_ARG, "leaky_relu NULL output");
    expect(et_leaky_relu_f32(x, y, 0, 0.1f), ET_ERR_BAD_SHAPE, "leaky_relu n = 0");
    expect(et_leaky_relu_f32(x, y, -3, 0.1f), ET_ERR_BAD_SHAPE, "leaky_relu n < 0");
    expect(et_leaky_relu_f32(x, y, 2, nan), ET_ERR_BAD_PARAM, "leaky_relu alpha NaN");
    expect(et_leaky_relu_f32_backward(x, y, 2, nan), ET_ERR_BAD_PARAM, "leaky_relu_backward alpha NaN");
    for (i = 0; i < sizeof bad_alpha / sizeof bad_alpha[0]; ++i) {
        expect(et_leaky_relu_f32(x, y, 2, bad_alpha[i]), ET_ERR_BAD_PARAM, "leaky_relu alpha range");
        expect(et_leaky_relu_f32_backward(x, y, 2, bad_alpha[i]), ET_ERR_BAD_PARAM,
               "leaky_relu_backward alpha range");
    }
    expect(et_sigmoid_f32(NULL, y, 2), ET_ERR_NULL_ARG, "sigmoid NULL input");
    expect(et_sigmoid_f32(x, NULL, 2), ET_ERR_NULL_ARG, "sigmoid NULL output");
    expect(et_sigmoid_f32(x, y, 0), ET_ERR_BAD_SHAPE, "sigmoid n = 0");
    expect(et_tanh_f32(NULL, y, 2), ET_ERR_NULL_ARG, "tanh NULL input");
    expect(et_tanh_f32(x, NULL, 2), ET_ERR_NULL_ARG, "tanh NULL output");
    expect(et_tanh_f32(x, y, -1), ET_ERR_BAD_SHAPE, "tanh n < 0");
    expect(et_hard_swish_f32(NULL, y, 2), ET_ERR_NULL_ARG, "hard_swish NULL input");
    expect(et_hard_swish_f32(x, NULL, 2), ET_ERR_NULL_ARG, "hard_swish NULL output");
    expect(et_hard_swish_f32(x, y, 0), ET_ERR_BAD_SHAPE, "hard_swish n = 0");

    expect(et_leaky_relu_f32_backward(NULL, y, 2, 0.1f), ET_ERR_NULL_ARG, "leaky_relu_backward NULL y");
    expect(et_leaky_relu_f32_backward(x, NULL, 2, 0.1f), ET_ERR_NULL_ARG, "leaky_relu_backward NULL dy");
    expect(et_leaky_relu_f32_backward(x, y, 0, 0.1f), ET_ERR_BAD_SHAPE, "leaky_relu_backward n = 0");
    expect(et_sigmoid_f32_backward(NULL, y, 2), ET_ERR_NULL_ARG, "sigmoid_backward NULL y");
    expect(et_sigmoid_f32_backward(x, NULL, 2), ET_ERR_NULL_ARG, "sigmoid_backward NULL dy");
    expect(et_sigmoid_f32_backward(x, y, 0), ET_ERR_BAD_SHAPE, "sigmoid_backward n = 0");
    expect(et_tanh_f32_backward(NULL, y, 2), ET_ERR_NULL_ARG, "tanh_backward NULL y");
    expect(et_tanh_f32_backward(x, NULL, 2), ET_ERR_NULL_ARG, "tanh_backward NULL dy");
    expect(et_tanh_f32_backward(x, y, -2), ET_ERR_BAD_SHAPE, "tanh_backward n < 0");
    expect(et_hard_swish_f32_backward(NULL, y, 2), ET_ERR_NULL_ARG, "hard_swish_backward NULL x");
    expect(et_hard_swish_f32_backward(x, NULL, 2), ET_ERR_NULL_ARG, "hard_swish_backward NULL dy");
    expect(et_hard_swish_f32_backward(x, y, 0), ET_ERR_BAD_SHAPE, "hard_swish_backward n = 0");

    expect(et_lut_s8(NULL, q, 2, table), ET_ERR_NULL_ARG, "lut NULL input");
    expect(et_lut_s8(q, NULL, 2, table), ET_ERR_NULL_ARG, "lut NULL output");
    expect(et_lut_s8(q, q, 2, NULL), ET_ERR_NULL_ARG, "lut NULL table");
    expect(et_lut_s8(q, q, 0, table), ET_ERR_BAD_SHAPE, "lut n = 0");
    /* A failed call leaves its output untouched. */
    if (y[0] != 0.0f || y[1] != 0.0f || q[0] != 0 || q[1] != 0) {
        die("a rejected call wrote its output");
    }
    printf("%d checks\n", g_checks);
    write_out(out_path, "ok", 2);
}

int main(int argc, char **argv)
{
    const char *op;
    size_t len;
    if (argc != 4) {
        die("usage: act_driver OP IN.bin OUT.bin");
    }
    op = argv[1];
    len = strlen(op);
    if (strcmp(op, "errors") == 0) {
        run_errors(argv[3]);
        return 0;
    }
    read_file(argv[2]);
    if (strcmp(op, "lut") == 0) {
        run_lut(argv[3]);
    } else if (len > 9 && strcmp(op + len - 9, "_backward") == 0) {
        run_backward(op, argv[3]);
    } else {
        run_forward(op, argv[3]);
    }
    if (g_pos != g_len) {
        die("input file has trailing bytes");
    }
    free(g_in);
    return 0;
}

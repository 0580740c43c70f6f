/* Kernel driver: `kernels_driver DIR` runs the standalone backward kernels and losses on DIR/in.bin
 * and writes DIR/out.bin for tests/test_c_training.py to compare with numpy.
 *
 * in.bin: int32 batch, n_in, n_out; float32 x[batch][n_in], w[n_out][n_in], dy[batch][n_out],
 *         y6[batch][n_out] (relu6 outputs), target[batch][n_out]; int32 labels[batch]
 * out.bin (float32, in this order): dx fast, dx ref, dW fast, db fast, dW ref, db ref,
 *         dW fast accumulated twice, db likewise, relu backward of dy with mask y6, relu6 backward,
 *         dy + y6 (accumulate), mse loss + grad, mse-labels loss + grad, xent loss + grad
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "et_runtime.h"
#include "io.h"

static float *take(const unsigned char *raw, size_t *pos, size_t n)
{
    float *p = (float *)malloc(n * sizeof(float));
    if (p == NULL) {
        io_die("out of memory");
    }
    memcpy(p, raw + *pos, n * sizeof(float));
    *pos += n * sizeof(float);
    return p;
}

static void check(et_status st, const char *what)
{
    if (st != ET_OK) {
        fprintf(stderr, "%s: %s\n", what, et_status_str(st));
        exit(1);
    }
}

int main(int argc, char **argv)
{
    int32_t dims[3];
    unsigned char *raw;
    size_t pos = 0;
    size_t total;
    et_dense_f32_params p;
    float *x, *w, *dy, *y6, *target, *out, *o;
    int32_t *labels;
    int32_t b, ni, no;
    if (argc != 2) {
        io_die("usage: kernels_driver DIR");
    }
    io_read_into(argv[1], "dims.bin", dims, sizeof dims);
    b = dims[0];
    ni = dims[1];
    no = dims[2];
    total = (size_t)(b * ni + no * ni + 3 * b * no) * sizeof(float) + (size_t)b * sizeof(int32_t);
    raw = (unsigned char *)io_read(argv[1], "in.bin", total);
    x = take(raw, &pos, (size_t)(b * ni));
    w = take(raw, &pos, (size_t)(no * ni));
    dy = take(raw, &pos, (size_t)(b * no));
    y6 = take(raw, &pos, (size_t)(b * no));
    target = take(raw, &pos, (size_t)(b * no));
    labels = (int32_t *)malloc((size_t)b * sizeof(int32_t));
    if (labels == NULL) {
        io_die("out of memory");
    }
    memcpy(labels, raw + pos, (size_t)b * sizeof(int32_t));
    total = (size_t)(2 * b * ni + 3 * (no * ni + no) + 3 * b * no + 3 + 3 * b * no);
    out = (float *)calloc(total, sizeof(float));
    if (out == NULL) {
        io_die("out of memory");
    }
    o = out;
    p.batch = b;
    p.n_in = ni;
    p.n_out = no;
    p.act_min = 0.0f;
    p.act_max = 0.0f;
    check(et_dense_f32_backward_input(&p, dy, w, o), "backward_input");
    o += b * ni;
    check(et_dense_f32_backward_input_ref(&p, dy, w, o), "backward_input_ref");
    o += b * ni;
    check(et_dense_f32_backward_params(&p, x, dy, o, o + no * ni, 0), "backward_params");
    o += no * ni + no;
    check(et_dense_f32_backward_params_ref(&p, x, dy, o, o + no * ni, 0), "backward_params_ref");
    o += no * ni + no;
    check(et_dense_f32_backward_params(&p, x, dy, o, o + no * ni, 0), "backward_params 1");
    check(et_dense_f32_backward_params(&p, x, dy, o, o + no * ni, 1), "backward_params 2");
    o += no * ni + no;
    memcpy(o, dy, (size_t)(b * no) * sizeof(float));
    check(et_relu_f32_backward(y6, o, b * no), "relu_backward");
    o += b * no;
    memcpy(o, dy, (size_t)(b * no) * sizeof(float));
    check(et_relu6_f32_backward(y6, o, b * no), "relu6_backward");
    o += b * no;
    memcpy(o, dy, (size_t)(b * no) * sizeof(float));
    check(et_grad_accumulate_f32(o, y6, b * no), "grad_accumulate");
    o += b * no;
    check(et_mse_f32(dy, target, b * no, o, o + 1), "mse");
    o += 1 + b * no;
    check(et_mse_labels_f32(dy, labels, b, no, o, o + 1), "mse_labels");
    o += 1 + b * no;
    /* In place: the gradient overwrites a copy of the logits. */
    memcpy(o + 1, dy, (size_t)(b * no) * sizeof(float));
    check(et_softmax_xent_f32(o + 1, labels, b, no, o, o + 1), "softmax_xent");
    o += 1 + b * no;
    if ((size_t)(o - out) != total) {
        io_die("output size bookkeeping");
    }
    io_write(argv[1], "out.bin", out, total * sizeof(float));
    free(raw);
    free(x);
    free(w);
    free(dy);
    free(y6);
    free(target);
    free(labels);
    free(out);
    return 0;
}

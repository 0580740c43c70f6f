/* Parity driver: `mlp_driver DIR` trains the MLP of mlp.h for `steps` steps on the batches in DIR
 * and writes the final parameters and the loss of every step back to DIR.
 *
 * DIR/config.bin: int32 n_in, n_hidden, n_out, batch, steps, optimizer (0 SGD, 1 Adam), frozen1,
 *                 mode (mlp_mode); then float32 lr, momentum, weight_decay, beta1, beta2, eps,
 *                 one_minus_beta1, one_minus_beta2
 * DIR/w1.bin b1.bin w2.bin b2.bin: float32, C layout W[n_out][n_in]
 * DIR/x.bin: float32 [steps][batch][n_in];  DIR/y.bin: int32 [steps][batch]
 * Writes out_w1.bin out_b1.bin out_w2.bin out_b2.bin losses.bin (float32 [steps]).
 */
#include <stdio.h>
#include <stdlib.h>

#include "io.h"
#include "mlp.h"

int main(int argc, char **argv)
{
    int32_t cfg[8];
    float fc[8];
    unsigned char raw[64];
    const char *dir;
    mlp m;
    et_optimizer opt;
    float *x;
    int32_t *y;
    float *losses;
    int32_t s;
    int32_t n_in, n_hidden, n_out, batch, steps;
    if (argc != 2) {
        io_die("usage: mlp_driver DIR");
    }
    dir = argv[1];
    io_read_into(dir, "config.bin", raw, sizeof raw);
    {
        /* config.bin is 8 int32 then 8 float32; copied bytewise into typed arrays. */
        size_t i;
        unsigned char *c = (unsigned char *)cfg;
        unsigned char *f = (unsigned char *)fc;
        for (i = 0; i < 32; ++i) {
            c[i] = raw[i];
            f[i] = raw[32 + i];
        }
    }
    n_in = cfg[0];
    n_hidden = cfg[1];
    n_out = cfg[2];
    batch = cfg[3];
    steps = cfg[4];
    mlp_alloc(&m, n_in, n_hidden, n_out, batch, cfg[6]);
    io_read_into(dir, "w1.bin", m.w1.value, sizeof(float) * (size_t)(n_hidden * n_in));
    io_read_into(dir, "b1.bin", m.b1.value, sizeof(float) * (size_t)n_hidden);
    io_read_into(dir, "w2.bin", m.w2.value, sizeof(float) * (size_t)(n_out * n_hidden));
    io_read_into(dir, "b2.bin", m.b2.value, sizeof(float) * (size_t)n_out);
    x = (float *)io_read(dir, "x.bin", sizeof(float) * (size_t)(steps * batch * n_in));
    y = (int32_t *)io_read(dir, "y.bin", sizeof(int32_t) * (size_t)(steps * batch));
    losses = (float *)calloc((size_t)steps, sizeof(float));
    if (losses == NULL) {
        io_die("out of memory");
    }
    opt.kind = cfg[5] == 1 ? ET_OPTIM_ADAM : ET_OPTIM_SGD;
    opt.sgd.lr = fc[0];
    opt.sgd.momentum = fc[1];
    opt.sgd.weight_decay = fc[2];
    opt.adam.lr = fc[0];
    opt.adam.weight_decay = fc[2];
    opt.adam.beta1 = fc[3];
    opt.adam.beta2 = fc[4];
    opt.adam.eps = fc[5];
    opt.adam.one_minus_beta1 = fc[6];
    opt.adam.one_minus_beta2 = fc[7];
    et_adam_step_init(&opt.step);
    for (s = 0; s < steps; ++s) {
        et_status st = et_optimizer_begin_step(&opt);
        if (st == ET_OK) {
            st = mlp_train_step(&m, &opt, (mlp_mode)cfg[7], x + (size_t)s * (size_t)(batch * n_in),
                                y + (size_t)s * (size_t)batch, &losses[s]);
        }
        if (st != ET_OK) {
            fprintf(stderr, "step %d: %s\n", (int)s, et_status_str(st));
            return 1;
        }
    }
    io_write(dir, "out_w1.bin", m.w1.value, sizeof(float) * (size_t)(n_hidden * n_in));
    io_write(dir, "out_b1.bin", m.b1.value, sizeof(float) * (size_t)n_hidden);
    io_write(dir, "out_w2.bin", m.w2.value, sizeof(float) * (size_t)(n_out * n_hidden));
    io_write(dir, "out_b2.bin", m.b2.value, sizeof(float) * (size_t)n_out);
    io_write(dir, "losses.bin", losses, sizeof(float) * (size_t)steps);
    free(x);
    free(y);
    free(losses);
    mlp_free(&m);
    return 0;
}

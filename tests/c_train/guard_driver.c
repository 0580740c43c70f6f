/* Divergence driver: `guard_driver DIR SCENARIO` with SCENARIO "nan" (one batch holds a NaN) or
 * "lr" (one step with a huge learning rate). Trains the MLP of mlp.h with the guard in front of
 * every update, commits after step COMMIT_STEP, triggers the fault after it, and checks that the
 * guard rolls the weights back to the commit. Then "reboots" (fresh model with the initial
 * weights, load from storage) and writes the loaded and the committed parameters to DIR
 * (loaded.bin, committed.bin). Inputs as for mlp_driver (config.bin is not read: batch 8, 20 steps).
 * Prints one line per event; exit status 0 only if every check held.
 *
 * `guard_driver - units`: fixed verdict sequences of et_guard_check (the warm-up's absolute bound,
 * the running average after it); prints "units ok".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "mlp.h"

#define N_IN 64
#define N_HIDDEN 32
#define N_OUT 10
#define BATCH 8
#define STEPS 20
#define COMMIT_STEP 5
#define FAULT_STEP 8
#define TAG 0x5EED0001u
#define BANK 16384u

static unsigned char g_flash[2u * BANK];

static void segs(mlp *m, et_storage_segment s[4])
{
    s[0].data = m->w1.value;
    s[0].size = sizeof(float) * N_HIDDEN * N_IN;
    s[1].data = m->b1.value;
    s[1].size = sizeof(float) * N_HIDDEN;
    s[2].data = m->w2.value;
    s[2].size = sizeof(float) * N_OUT * N_HIDDEN;
    s[3].data = m->b2.value;
    s[3].size = sizeof(float) * N_OUT;
}

/* Parameters flattened in segment order. */
static void snapshot(mlp *m, float *dst)
{
    et_storage_segment s[4];
    size_t off = 0;
    int i;
    segs(m, s);
    for (i = 0; i < 4; ++i) {
        memcpy((unsigned char *)dst + off, s[i].data, s[i].size);
        off += s[i].size;
    }
}

#define N_PARAMS (N_HIDDEN * N_IN + N_HIDDEN + N_OUT * N_HIDDEN + N_OUT)

static int all_finite(const float *p, int n)
{
    int i;
    for (i = 0; i < n; ++i) {
        if (!(p[i] == p[i]) || fabsf(p[i]) > 3.0e38f) {
            return 0;
        }
    }
    return 1;
}

static void load_initial(const char *dir, mlp *m)
{
    io_read_into(dir, "w1.bin", m->w1.value, sizeof(float) * N_HIDDEN * N_IN);
    io_read_into(dir, "b1.bin", m->b1.value, sizeof(float) * N_HIDDEN);
    io_read_into(dir, "w2.bin", m->w2.value, sizeof(float) * N_OUT * N_HIDDEN);
    io_read_into(dir, "b2.bin", m->b2.value, sizeof(float) * N_OUT);
}

/* Feeds `n` losses and compares each verdict with want[i] (0 accept, 1 diverged). */
static int verdicts(et_guard *g, const float *loss, const int *want, int n, const char *what)
{
    int i;
    int bad = 0;
    for (i = 0; i < n; ++i) {
        et_guard_verdict v = ET_GUARD_ACCEPT;
        if (et_guard_check(g, loss[i], &v) != ET_OK || (int)v != want[i]) {
            fprintf(stderr, "%s: loss %g gave verdict %d, want %d\n", what, (double)loss[i], (int)v,
                    want[i]);
            bad += 1;
        }
    }
    return bad;
}

static int run_units(void)
{
    et_guard g;
    int bad = 0;
    /* max_ratio 10, min_loss 4, warm-up 4: limit max(10 * initial, 4) during the warm-up. */
    {
        static const float loss[] = {0.5f, 3.9f, 4.5f, 1e14f, INFINITY, 4.9f, 0.4f, 2.0f};
        static const int want[] = {0, 0, 0, 1, 1, 0, 0, 0};
        et_guard_init(&g, 10.0f, 4.0f, 0.9f, 4);
        bad += verdicts(&g, loss, want, 8, "warm-up, initial 0.5 (bound 5)");
        bad += g.initial != 0.5f || g.accepted != 6 || g.diverged != 2;
    }
    /* Growing losses during the warm-up no longer raise their own bar. */
    {
        static const float loss[] = {2.0f, 19.0f, 21.0f, 400.0f, 4e14f, 15.0f};
        static const int want[] = {0, 0, 1, 1, 1, 0};
        et_guard_init(&g, 10.0f, 4.0f, 0.9f, 4);
        bad += verdicts(&g, loss, want, 6, "warm-up, initial 2 (bound 20)");
    }
    /* A NaN first loss is rejected and does not become the initial loss. */
    {
        static const float loss[] = {NAN, 1.0f, 10.5f, 9.5f};
        static const int want[] = {1, 0, 1, 0};
        et_guard_init(&g, 10.0f, 0.0f, 0.9f, 4);
        bad += verdicts(&g, loss, want, 4, "NaN first, then initial 1 (bound 10)");
        bad += g.initial != 1.0f;
    }
    /* After the warm-up: against max_ratio * running average. */
    {
        static const float loss[] = {1.0f, 1.0f, 1.9f, 2.8f, 4.3f, 1e30f};
        static const int want[] = {0, 0, 0, 0, 1, 1};
        et_guard_init(&g, 2.0f, 0.0f, 0.5f, 2);
        bad += verdicts(&g, loss, want, 6, "after warm-up, average 1, 1.45, 2.125");
    }
    printf("units %s\n", bad == 0 ? "ok" : "FAILED");
    return bad;
}

int main(int argc, char **argv)
{
    static float committed[N_PARAMS];
    static float now[N_PARAMS];
    const char *dir;
    int lr_fault;
    mlp m;
    et_optimizer opt;
    et_guard guard;
    et_ram_storage ram;
    et_storage storage;
    et_storage_segment seg[4];
    float *x;
    int32_t *y;
    int s;
    int bad = 0;
    int rollbacks = 0;
    if (argc == 3 && strcmp(argv[2], "units") == 0) {
        return run_units() == 0 ? 0 : 1;
    }
    if (argc != 3 || (strcmp(argv[2], "nan") != 0 && strcmp(argv[2], "lr") != 0)) {
        io_die("usage: guard_driver DIR nan|lr|units");
    }
    dir = argv[1];
    lr_fault = strcmp(argv[2], "lr") == 0;
    mlp_alloc(&m, N_IN, N_HIDDEN, N_OUT, BATCH, 0);
    load_initial(dir, &m);
    x = (float *)io_read(dir, "x.bin", sizeof(float) * STEPS * BATCH * N_IN);
    y = (int32_t *)io_read(dir, "y.bin", sizeof(int32_t) * STEPS * BATCH);
    segs(&m, seg);

    et_ram_storage_init(&ram, g_flash, sizeof g_flash, 1024u, 4u);
    if (et_ram_storage_interface(&ram, BANK, &storage) != ET_OK ||
        et_storage_commit(&storage, TAG, seg, 4, NULL) != ET_OK) {
        io_die("storage set-up failed");
    }
    opt.kind = ET_OPTIM_SGD;
    opt.sgd.lr = 0.05f;
    opt.sgd.momentum = 0.9f;
    opt.sgd.weight_decay = 0.0f;
    /* Diverged: non-finite, or over 4x the running average once 3 losses are in. */
    et_guard_init(&guard, 4.0f, 0.0f, 0.9f, 3);

    for (s = 0; s < STEPS; ++s) {
        float *xb = x + s * BATCH * N_IN;
        float loss;
        et_guard_verdict verdict;
        et_status st;
        if (!lr_fault && s == FAULT_STEP) {
            xb[5] = NAN; /* a broken sensor sample */
        }
        st = mlp_loss(&m, xb, y + s * BATCH, &loss);
        if (st == ET_OK) {
            st = et_guard_step(&guard, loss, &storage, TAG, seg, 4, &verdict);
        }
        if (st != ET_OK) {
            fprintf(stderr, "step %d: %s\n", s, et_status_str(st));
            return 1;
        }
        if (verdict == ET_GUARD_DIVERGED) {
            rollbacks += 1;
            snapshot(&m, now);
            printf("step %d loss %g diverged (average %g): rolled back\n", s, (double)loss,
                   (double)guard.average);
            if (memcmp(now, committed, sizeof now) != 0 || !all_finite(now, N_PARAMS)) {
                fprintf(stderr, "rollback did not restore the committed weights\n");
                bad += 1;
            }
            mlp_zero_slots(&m); /* velocities carry the divergence too */
            opt.sgd.lr = 0.05f;
            continue;
        }
        printf("step %d loss %g accepted\n", s, (double)loss);
        /* The huge learning rate applies to one update; its damage shows in the next loss. */
        opt.sgd.lr = (lr_fault && s == FAULT_STEP) ? 1.0e4f : 0.05f;
        if (et_optimizer_begin_step(&opt) != ET_OK ||
            mlp_backward_update(&m, &opt, MLP_FUSED, xb) != ET_OK) {
            io_die("training step failed");
        }
        if (s == COMMIT_STEP) {
            if (et_storage_commit(&storage, TAG, seg, 4, NULL) != ET_OK) {
                io_die("commit failed");
            }
            snapshot(&m, committed);
            printf("step %d committed\n", s);
        }
    }
    printf("rollbacks %d\n", rollbacks);
    if (rollbacks != 1) {
        fprintf(stderr, "expected exactly one rollback, got %d\n", rollbacks);
        bad += 1;
    }
    /* Reboot: the firmware starts from its compiled-in weights and loads the last commit. */
    mlp_free(&m);
    mlp_alloc(&m, N_IN, N_HIDDEN, N_OUT, BATCH, 0);
    load_initial(dir, &m);
    segs(&m, seg);
    if (et_storage_load(&storage, TAG, seg, 4, NULL) != ET_OK) {
        io_die("load after reboot failed");
    }
    snapshot(&m, now);
    io_write(dir, "loaded.bin", now, sizeof now);
    io_write(dir, "committed.bin", committed, sizeof committed);
    free(x);
    free(y);
    mlp_free(&m);
    return bad == 0 ? 0 : 1;
}

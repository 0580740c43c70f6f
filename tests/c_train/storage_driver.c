/* Storage driver for tests/test_c_training.py.
 *
 *   storage_driver crc DIR            CRC32 of the whole of DIR/data.bin, printed "crc 0x%08x"
 *   storage_driver units              fixed cases: empty flash, layout mismatch, too large,
 *                                     corrupted newest bank falls back, commits alternate banks
 *   storage_driver powercut WU ES TORN
 *                                     for every byte of a commit (erase, payload, header), cut the
 *                                     power there, reboot, load: the parameters must be exactly
 *                                     the previous or the new commit. WU = write unit, ES = erase
 *                                     size, TORN = 1 for random bits in the interrupted byte.
 * Prints one "cases ..." line per scenario; exit status 0 only if every case passed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "et_runtime.h"
#include "io.h"

#define BANK 2048u
#define REGION (2u * BANK)
#define N0 150 /* floats of the first segment (a "layer") */
#define N1 13  /* floats of the second: odd sizes exercise the padding */
#define TAG 0xC0FFEEu

static unsigned char g_flash[REGION];
static unsigned char g_snapshot[REGION];
static float g_old[N0 + N1];
static float g_new[N0 + N1];
static float g_mid[N0 + N1];
static float g_buf[N0 + N1]; /* the "RAM" parameters loads write into */

static void fill(float *dst, float base)
{
    int i;
    for (i = 0; i < N0 + N1; ++i) {
        dst[i] = base + 0.001f * (float)i - 0.5f * (float)(i % 7);
    }
}

static void segments(et_storage_segment seg[2], float *p)
{
    seg[0].data = p;
    seg[0].size = N0 * sizeof(float);
    seg[1].data = p + N0;
    seg[1].size = N1 * sizeof(float);
}

static int expect(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "FAILED: %s\n", what);
    }
    return cond ? 0 : 1;
}

static et_status commit(const et_storage *s, float *p)
{
    et_storage_segment seg[2];
    segments(seg, p);
    return et_storage_commit(s, TAG, seg, 2, NULL);
}

static et_status load(const et_storage *s, et_storage_info *info)
{
    et_storage_segment seg[2];
    segments(seg, g_buf);
    memset(g_buf, 0xA5, sizeof g_buf);
    return et_storage_load(s, TAG, seg, 2, info);
}

static int run_units(void)
{
    et_ram_storage ram;
    et_storage s;
    et_storage_info info;
    et_storage_segment seg[2];
    float big[600];
    int bad = 0;
    uint32_t crc;
    crc = et_crc32_update(0u, "123456789", 9);
    bad += expect(crc == 0xCBF43926u, "CRC-32 check value of \"123456789\"");
    crc = et_crc32_update(et_crc32_update(0u, "1234", 4), "56789", 5);
    bad += expect(crc == 0xCBF43926u, "CRC-32 over two pieces");

    et_ram_storage_init(&ram, g_flash, REGION, 256u, 4u);
    et_ram_storage_interface(&ram, BANK, &s);
    bad += expect(load(&s, &info) == ET_ERR_STORAGE_EMPTY, "fresh flash loads as empty");

    bad += expect(commit(&s, g_old) == ET_OK, "first commit");
    bad += expect(load(&s, &info) == ET_OK && info.bank == 0 && info.sequence == 1u &&
                      memcmp(g_buf, g_old, sizeof g_old) == 0,
                  "first commit lands in bank A, seq 1");
    bad += expect(commit(&s, g_new) == ET_OK, "second commit");
    bad += expect(load(&s, &info) == ET_OK && info.bank == 1 && info.sequence == 2u &&
                      info.valid_banks == 2 && memcmp(g_buf, g_new, sizeof g_new) == 0,
                  "second commit lands in bank B, seq 2, both banks valid");
    bad += expect(commit(&s, g_mid) == ET_OK, "third commit");
    bad += expect(load(&s, &info) == ET_OK && info.bank == 0 && info.sequence == 3u &&
                      memcmp(g_buf, g_mid, sizeof g_mid) == 0,
                  "third commit overwrites the older bank A");
    bad += expect(ram.set_bit_writes == 0u, "commits only program erased flash");

    /* One flipped payload bit in the newest bank: its CRC fails, the older commit wins. */
    g_flash[ET_STORAGE_HEADER_BYTES + 17u] ^= 0x10u;
    bad += expect(load(&s, &info) == ET_OK && info.bank == 1 && info.sequence == 2u &&
                      info.valid_banks == 1 && memcmp(g_buf, g_new, sizeof g_new) == 0,
                  "a corrupted newest bank falls back to the previous commit");
    /* The next commit must not overwrite the only valid bank (B). */
    bad += expect(commit(&s, g_old) == ET_OK, "commit after corruption");
    bad += expect(load(&s, &info) == ET_OK && info.bank == 0 && info.sequence == 3u &&
                      memcmp(g_buf, g_old, sizeof g_old) == 0,
                  "commit after corruption rewrites the corrupted bank");

    segments(seg, g_buf);
    bad += expect(et_storage_load(&s, TAG + 1u, seg, 2, NULL) == ET_ERR_STORAGE_LAYOUT,
                  "another layout tag is refused");
    bad += expect(et_storage_load(&s, TAG, seg, 1, NULL) == ET_ERR_STORAGE_LAYOUT,
                  "another payload length is refused");
    seg[0].data = big;
    seg[0].size = sizeof big;
    bad += expect(et_storage_commit(&s, TAG, seg, 1, NULL) == ET_ERR_STORAGE_FULL,
                  "a payload larger than a bank is refused");
    bad += expect(load(&s, &info) == ET_OK && memcmp(g_buf, g_old, sizeof g_old) == 0,
                  "refused commits leave the last commit loadable");
    s.write_unit = 3u;
    bad += expect(et_storage_check(&s) == ET_ERR_BAD_PARAM, "write unit must divide 32");
    printf("units %s\n", bad == 0 ? "ok" : "FAILED");
    return bad;
}

/* State before the interrupted commit. */
enum { PREV_ONE = 0, PREV_TWO = 1, PREV_TORN = 2, N_SCENARIOS = 3 };
static const char *const scenario_names[N_SCENARIOS] = {
    "one previous commit (target empty bank B)",
    "two previous commits (target erases valid older bank A)",
    "previous commit + an earlier interrupted one (target holds garbage)"};

static int setup(int scenario, et_ram_storage *ram, et_storage *s, uint32_t wu, uint32_t es)
{
    et_ram_storage_init(ram, g_flash, REGION, es, wu);
    et_ram_storage_interface(ram, BANK, s);
    if (scenario == PREV_TWO) {
        if (commit(s, g_mid) != ET_OK) {
            return 1;
        }
    }
    if (commit(s, g_old) != ET_OK) {
        return 1;
    }
    if (scenario == PREV_TORN) {
        /* A commit interrupted in its payload leaves partial data in the other bank. */
        ram->cut_after = (int32_t)(BANK / 2u + 100u);
        if (commit(s, g_mid) == ET_OK) {
            return 1;
        }
        et_ram_storage_power_on(ram);
    }
    return 0;
}

static int run_powercut(uint32_t wu, uint32_t es, int torn)
{
    int bad = 0;
    int sc;
    for (sc = 0; sc < N_SCENARIOS; ++sc) {
        et_ram_storage ram;
        et_storage s;
        et_storage_info info;
        uint32_t total;
        uint32_t erase_bytes;
        uint32_t cut;
        uint32_t n_old = 0u;
        uint32_t n_new = 0u;
        uint32_t n_mix = 0u;
        uint32_t prev_seq;
        if (setup(sc, &ram, &s, wu, es) != 0) {
            fprintf(stderr, "setup failed\n");
            return 1;
        }
        load(&s, &info);
        prev_seq = info.sequence;
        memcpy(g_snapshot, g_flash, REGION);
        /* An uninterrupted commit from this state: how many bytes it erases and programs. */
        {
            const uint32_t e0 = ram.bytes_erased;
            const uint32_t w0 = ram.bytes_written;
            if (commit(&s, g_new) != ET_OK) {
                return 1;
            }
            erase_bytes = ram.bytes_erased - e0;
            total = erase_bytes + (ram.bytes_written - w0);
        }
        /* cut == total: the power fails right after the last byte, the commit completes. */
        for (cut = 0u; cut <= total; ++cut) {
            et_status st;
            memcpy(g_flash, g_snapshot, REGION);
            et_ram_storage_power_on(&ram);
            ram.torn = torn;
            ram.rng = 0x9E3779B9u * (cut + 1u);
            ram.cut_after = (int32_t)cut;
            st = commit(&s, g_new);
            if (cut == total ? st != ET_OK : (st != ET_ERR_STORAGE_IO || !ram.dead)) {
                fprintf(stderr, "cut %u: commit returned %s\n", (unsigned)cut,
                        et_status_str(st));
                bad += 1;
            }
            et_ram_storage_power_on(&ram); /* reboot */
            st = load(&s, &info);
            if (st == ET_OK && info.sequence == prev_seq && memcmp(g_buf, g_old, sizeof g_old) == 0) {
                n_old += 1u;
            } else if (st == ET_OK && info.sequence == prev_seq + 1u &&
                       memcmp(g_buf, g_new, sizeof g_new) == 0) {
                n_new += 1u;
            } else {
                n_mix += 1u;
                fprintf(stderr, "cut %u: load %s seq %u gave neither the old nor the new weights\n",
                        (unsigned)cut, et_status_str(st), (unsigned)info.sequence);
            }
            /* After the reboot the next commit must succeed and win. */
            if (commit(&s, g_new) != ET_OK || load(&s, &info) != ET_OK ||
                memcmp(g_buf, g_new, sizeof g_new) != 0) {
                fprintf(stderr, "cut %u: recommit after reboot failed\n", (unsigned)cut);
                bad += 1;
            }
        }
        if (ram.set_bit_writes != 0u) {
            fprintf(stderr, "a write programmed non-erased flash\n");
            bad += 1;
        }
        bad += (int)n_mix;
        printf("cases scenario=%d write_unit=%u erase_size=%u torn=%d cuts=%u erase=%u program=%u "
               "old=%u new=%u mixed=%u  # %s\n",
               sc, (unsigned)wu, (unsigned)es, torn, (unsigned)(total + 1u), (unsigned)erase_bytes,
               (unsigned)(total - erase_bytes), (unsigned)n_old, (unsigned)n_new, (unsigned)n_mix,
               scenario_names[sc]);
    }
    return bad;
}

int main(int argc, char **argv)
{
    fill(g_old, 1.0f);
    fill(g_new, -2.0f);
    fill(g_mid, 3.0f);
    if (argc == 3 && strcmp(argv[1], "crc") == 0) {
        FILE *f;
        long n = -1;
        unsigned char *data;
        char path[1024];
        snprintf(path, sizeof path, "%s/data.bin", argv[2]);
        f = fopen(path, "rb");
        if (f == NULL) {
            io_die("cannot open data.bin");
        }
        if (fseek(f, 0, SEEK_END) == 0) {
            n = ftell(f);
        }
        fclose(f);
        if (n < 0) {
            io_die("cannot size data.bin");
        }
        data = (unsigned char *)io_read(argv[2], "data.bin", (size_t)n);
        printf("crc 0x%08x\n", (unsigned)et_crc32_update(0u, data, (size_t)n));
        free(data);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "units") == 0) {
        return run_units() == 0 ? 0 : 1;
    }
    if (argc == 5 && strcmp(argv[1], "powercut") == 0) {
        const uint32_t wu = (uint32_t)strtoul(argv[2], NULL, 10);
        const uint32_t es = (uint32_t)strtoul(argv[3], NULL, 10);
        return run_powercut(wu, es, atoi(argv[4])) == 0 ? 0 : 1;
    }
    io_die("usage: storage_driver crc DIR | units | powercut WRITE_UNIT ERASE_SIZE TORN");
    return 2;
}

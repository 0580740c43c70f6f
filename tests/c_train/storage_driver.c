/* Storage driver for tests/test_c_training.py.
 *
 *   storage_driver crc DIR            CRC32 of the whole of DIR/data.bin, printed "crc 0x%08x"
 *   storage_driver units              fixed cases: empty flash, layout mismatch, too large,
 *                                     corrupted newest bank falls back, commits alternate banks
 *   storage_driver powercut WU ES TORN
 *                                     for every byte of a commit (erase, payload, header), cut the
 *                                     power there, reboot, load: the parameters must be exactly
 *                                     the previous or the new commit. Then the recovery: a second
 *                                     cut in the next commit, reboot, load (the state after the
 *                                     first reboot or the recovery commit), a transient read error
 *                                     during the following load, and a clean commit that must win.
 *                                     WU = write unit, ES = erase size (the bank is one sector, at
 *                                     least 2048 bytes), TORN = 1: random bits in the interrupted
 *                                     byte, 2: in the rest of its write unit / sector too.
 *                                     Erase cut points are sampled when a bank erases more than
 *                                     4096 bytes (every byte of the first and last 64 of each
 *                                     sector and about 2048 evenly spaced between; the "points"
 *                                     field is the full count); program cut points are all taken.
 *                                     The second (recovery) cut is pseudo-random: one in eight
 *                                     lets the recovery commit complete.
 *   storage_driver faults WU ES       read, erase and program errors (persistent bad ranges and a
 *                                     transient failure at every callback call of a load and of a
 *                                     commit) and multi-bit flips in the banks: a load gives the
 *                                     newest intact commit or an error, never other bytes.
 * Prints one "cases ..." line per scenario; exit status 0 only if every case passed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "et_runtime.h"
#include "io.h"

#define BANK 2048u
#define REGION (2u * BANK)
#define MAX_BANK 32768u /* the largest sector the fault tests use (STM32F7) */
#define MAX_REGION (2u * MAX_BANK)
#define N0 150 /* floats of the first segment (a "layer") */
#define N1 13  /* floats of the second: odd sizes exercise the padding */
#define TAG 0xC0FFEEu

static unsigned char g_flash[MAX_REGION];
static unsigned char g_snapshot[MAX_REGION];
static float g_old[N0 + N1];
static float g_new[N0 + N1];
static float g_mid[N0 + N1];
static float g_rec[N0 + N1]; /* what the recovery commit after a power cut writes */
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

static et_status commit_info(const et_storage *s, float *p, et_storage_info *info)
{
    et_storage_segment seg[2];
    segments(seg, p);
    return et_storage_commit(s, TAG, seg, 2, info);
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
    s.write_unit = 4u;

    /* Erase counters: k commits on fresh flash erase A ceil(k/2) and B floor(k/2) times. */
    et_ram_storage_init(&ram, g_flash, REGION, 256u, 4u);
    et_ram_storage_interface(&ram, BANK, &s);
    {
        int k;
        int ok = 1;
        for (k = 1; k <= 7; ++k) {
            et_storage_info ci;
            ok &= commit_info(&s, (k & 1) ? g_old : g_new, &ci) == ET_OK &&
                  ci.erase_count_a == (uint32_t)((k + 1) / 2) && ci.erase_count_b == (uint32_t)(k / 2);
            ok &= load(&s, &info) == ET_OK && info.erase_count_a == ci.erase_count_a &&
                  info.erase_count_b == ci.erase_count_b;
        }
        bad += expect(ok, "erase counts: A ceil(k/2), B floor(k/2) after k commits, also on load");
        bad += expect(ram.erase_calls == 7u, "one erase call per commit");
        /* An interrupted commit erased bank B but is not recorded: the counts are a lower bound. */
        ram.cut_after = 200;
        ok = commit(&s, g_mid) == ET_ERR_STORAGE_IO;
        et_ram_storage_power_on(&ram);
        ok &= load(&s, &info) == ET_OK && info.erase_count_a == 4u && info.erase_count_b == 3u;
        ok &= commit_info(&s, g_mid, &info) == ET_OK && info.bank == 1 && info.erase_count_b == 4u;
        bad += expect(ok, "an interrupted commit's erase is not counted; the next one is");
        /* The counts live in the header fields at bytes 20 and 24, covered by the CRC. */
        ok = load(&s, &info) == ET_OK && info.bank == 1;
        ok &= g_flash[BANK + 20u] == 4u && g_flash[BANK + 24u] == 4u && g_flash[20] == 4u &&
              g_flash[24] == 3u;
        bad += expect(ok, "erase counts stored little-endian at header bytes 20 (A) and 24 (B)");
    }

    /* A read error in one bank: load and commit use the other. */
    ram.bad_lo = BANK;
    ram.bad_hi = BANK + 4u;
    ram.bad_ops = ET_RAM_FAIL_READ;
    bad += expect(load(&s, &info) == ET_OK && info.bank == 0 && memcmp(g_buf, g_old, sizeof g_old) == 0,
                  "unreadable newest bank B: load falls back to bank A");
    bad += expect(commit(&s, g_new) == ET_ERR_STORAGE_IO, "commit to the unreadable bank fails");
    bad += expect(load(&s, &info) == ET_OK && info.bank == 0 && memcmp(g_buf, g_old, sizeof g_old) == 0,
                  "a failed commit to the unreadable bank keeps bank A");
    ram.bad_lo = 0u;
    ram.bad_hi = 4u;
    /* The commit above wrote all of bank B; only reading its header back failed. */
    bad += expect(load(&s, &info) == ET_OK && info.bank == 1 && memcmp(g_buf, g_new, sizeof g_new) == 0,
                  "unreadable bank A: the newest bank B loads");
    bad += expect(commit(&s, g_mid) == ET_ERR_STORAGE_IO &&
                      load(&s, &info) == ET_OK && memcmp(g_buf, g_new, sizeof g_new) == 0,
                  "commit targets the unreadable older bank A, fails, bank B stays");
    ram.bad_hi = 2u * BANK;
    bad += expect(load(&s, &info) == ET_ERR_STORAGE_IO && commit(&s, g_new) == ET_ERR_STORAGE_IO,
                  "both banks unreadable: load and commit report ET_ERR_STORAGE_IO");
    ram.bad_ops = 0u;
    bad += expect(load(&s, &info) == ET_OK && info.bank == 0 && memcmp(g_buf, g_mid, sizeof g_mid) == 0,
                  "readable again: the newest complete commit loads");
    /* Fresh flash with bank A unreadable: the first commit goes to B; load says IO, not EMPTY,
     * while nothing is valid and A cannot be read. */
    et_ram_storage_init(&ram, g_flash, REGION, 256u, 4u);
    et_ram_storage_interface(&ram, BANK, &s);
    ram.bad_lo = 0u;
    ram.bad_hi = BANK;
    ram.bad_ops = ET_RAM_FAIL_READ;
    bad += expect(load(&s, &info) == ET_ERR_STORAGE_IO, "nothing valid, one bank unreadable: IO");
    bad += expect(commit_info(&s, g_old, &info) == ET_OK && info.bank == 1 &&
                      load(&s, &info) == ET_OK && memcmp(g_buf, g_old, sizeof g_old) == 0,
                  "no valid bank: the commit prefers the readable bank B");
    printf("units %s\n", bad == 0 ? "ok" : "FAILED");
    return bad;
}

/* State before the interrupted commit. */
enum { PREV_ONE = 0, PREV_TWO = 1, PREV_TORN = 2, N_SCENARIOS = 3 };
static const char *const scenario_names[N_SCENARIOS] = {
    "one previous commit (target empty bank B)",
    "two previous commits (target erases valid older bank A)",
    "previous commit + an earlier interrupted one (target holds garbage)"};

static uint32_t g_rng = 0x2545F491u;

static uint32_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 17;
    g_rng ^= g_rng << 5;
    return g_rng;
}

/* Which known parameter set the last load wrote: 1 old, 2 new, 3 mid, 4 rec, 0 none of them. */
static int which(void)
{
    if (memcmp(g_buf, g_old, sizeof g_buf) == 0) {
        return 1;
    }
    if (memcmp(g_buf, g_new, sizeof g_buf) == 0) {
        return 2;
    }
    if (memcmp(g_buf, g_mid, sizeof g_buf) == 0) {
        return 3;
    }
    return memcmp(g_buf, g_rec, sizeof g_buf) == 0 ? 4 : 0;
}

static uint32_t bank_for(uint32_t es)
{
    return es > BANK ? es : BANK;
}

static int setup(int scenario, et_ram_storage *ram, et_storage *s, uint32_t wu, uint32_t es)
{
    const uint32_t bank = bank_for(es);
    et_ram_storage_init(ram, g_flash, 2u * bank, es, wu);
    et_ram_storage_interface(ram, bank, s);
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
        const uint32_t erased = et_storage_bank_bytes(s, (uint32_t)sizeof g_mid);
        ram->cut_after = (int32_t)(((erased + es - 1u) / es) * es + 300u);
        if (commit(s, g_mid) == ET_OK) {
            return 1;
        }
        et_ram_storage_power_on(ram);
    }
    return 0;
}

/* Erase cut points taken (all of them for small erases; see the usage comment). */
static int erase_point_taken(uint32_t c, uint32_t erase_bytes, uint32_t es)
{
    const uint32_t stride = erase_bytes / 2048u;
    const uint32_t in = c % es;
    if (c >= erase_bytes || erase_bytes <= 4096u) {
        return 1;
    }
    return in < 64u || in >= es - 64u || c % stride == 0u;
}

static int run_powercut(uint32_t wu, uint32_t es, int torn)
{
    const uint32_t region = 2u * bank_for(es);
    int bad = 0;
    int sc;
    for (sc = 0; sc < N_SCENARIOS; ++sc) {
        et_ram_storage ram;
        et_storage s;
        et_storage_info info;
        uint32_t total;
        uint32_t erase_bytes;
        uint32_t cut;
        uint32_t n_cuts = 0u, n_old = 0u, n_new = 0u, n_mix = 0u;
        uint32_t r_old = 0u, r_new = 0u, r_bad = 0u, n_readfault = 0u, n_corrupt = 0u;
        uint32_t prev_seq;
        if (setup(sc, &ram, &s, wu, es) != 0) {
            fprintf(stderr, "setup failed\n");
            return 1;
        }
        load(&s, &info);
        prev_seq = info.sequence;
        memcpy(g_snapshot, g_flash, region);
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
            int first;
            uint32_t seq1;
            if (!erase_point_taken(cut, erase_bytes, es)) {
                continue;
            }
            n_cuts += 1u;
            memcpy(g_flash, g_snapshot, region);
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
            first = which();
            if (st == ET_OK && info.sequence == prev_seq && first == 1) {
                n_old += 1u;
            } else if (st == ET_OK && info.sequence == prev_seq + 1u && first == 2) {
                n_new += 1u;
            } else {
                n_mix += 1u;
                fprintf(stderr, "cut %u: load %s seq %u gave neither the old nor the new weights\n",
                        (unsigned)cut, et_status_str(st), (unsigned)info.sequence);
                continue;
            }
            seq1 = info.sequence;
            /* Recovery: the next commit is cut too (at a pseudo-random point of it). */
            ram.torn = torn;
            ram.cut_after = (int32_t)(rnd() % 8u == 0u ? total : rnd() % (total + 1u));
            (void)commit(&s, g_rec);
            et_ram_storage_power_on(&ram);
            st = load(&s, &info);
            if (st == ET_OK && info.sequence == seq1 && which() == first) {
                r_old += 1u;
            } else if (st == ET_OK && info.sequence == seq1 + 1u && which() == 4) {
                r_new += 1u;
            } else {
                r_bad += 1u;
                fprintf(stderr, "cut %u: after a second cut, load %s seq %u gave other weights\n",
                        (unsigned)cut, et_status_str(st), (unsigned)info.sequence);
            }
            /* A transient read error in the load after that: a known commit or an error. */
            ram.fail_call = (int32_t)(rnd() % 24u);
            st = load(&s, &info);
            ram.fail_call = -1;
            n_readfault += 1u;
            if (st == ET_OK ? which() == 0 : st != ET_ERR_STORAGE_IO && st != ET_ERR_STORAGE_VERIFY) {
                n_corrupt += 1u;
                fprintf(stderr, "cut %u: load with a read error: %s, unknown weights\n", (unsigned)cut,
                        et_status_str(st));
            }
            /* After the reboots the next commit must succeed and win. */
            if (commit(&s, g_new) != ET_OK || load(&s, &info) != ET_OK || which() != 2) {
                fprintf(stderr, "cut %u: recommit after reboot failed\n", (unsigned)cut);
                bad += 1;
            }
        }
        if (ram.set_bit_writes != 0u) {
            fprintf(stderr, "a write programmed non-erased flash\n");
            bad += 1;
        }
        bad += (int)(n_mix + r_bad + n_corrupt);
        printf("cases scenario=%d write_unit=%u erase_size=%u torn=%d points=%u cuts=%u erase=%u "
               "program=%u old=%u new=%u mixed=%u recovery_cuts=%u recovery_old=%u recovery_new=%u "
               "recovery_bad=%u read_fault_loads=%u corrupt=%u  # %s\n",
               sc, (unsigned)wu, (unsigned)es, torn, (unsigned)(total + 1u), (unsigned)n_cuts,
               (unsigned)erase_bytes, (unsigned)(total - erase_bytes), (unsigned)n_old,
               (unsigned)n_new, (unsigned)n_mix, (unsigned)(r_old + r_new + r_bad), (unsigned)r_old,
               (unsigned)r_new, (unsigned)r_bad, (unsigned)n_readfault, (unsigned)n_corrupt,
               scenario_names[sc]);
    }
    return bad;
}

/* Fault scenarios start from two commits: bank A holds g_mid (seq 1), bank B g_old (seq 2). */
static int fault_setup(et_ram_storage *ram, et_storage *s, uint32_t wu, uint32_t es)
{
    const uint32_t region = 2u * bank_for(es);
    if (setup(PREV_TWO, ram, s, wu, es) != 0) {
        return 1;
    }
    memcpy(g_snapshot, g_flash, region);
    return 0;
}

static void fault_reset(et_ram_storage *ram, uint32_t region)
{
    memcpy(g_flash, g_snapshot, region);
    et_ram_storage_power_on(ram);
    ram->fail_call = -1;
    ram->bad_ops = 0u;
}

static int run_faults(uint32_t wu, uint32_t es)
{
    const uint32_t bank = bank_for(es);
    const uint32_t region = 2u * bank;
    const uint32_t used = ET_STORAGE_HEADER_BYTES + (uint32_t)sizeof g_old;
    et_ram_storage ram;
    et_storage s;
    et_storage_info info;
    uint32_t cases = 0u, corrupt = 0u, fallbacks = 0u, errors = 0u, failed_recommit = 0u;
    int32_t k;
    int t;
    if (fault_setup(&ram, &s, wu, es) != 0) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }

    /* 1. A transient failure at each callback call of a load. */
    for (k = 0;; ++k) {
        et_status st;
        fault_reset(&ram, region);
        ram.fail_call = k;
        st = load(&s, &info);
        if (ram.fail_call >= 0) {
            break; /* the load made fewer calls: every call has been failed once */
        }
        cases += 1u;
        if (st != ET_OK || (which() != 1 && which() != 3)) {
            corrupt += 1u;
            fprintf(stderr, "load, failed call %d: %s\n", (int)k, et_status_str(st));
        } else {
            fallbacks += which() == 3;
        }
    }
    printf("cases faults=load-transient write_unit=%u erase_size=%u calls=%u fallbacks=%u "
           "corrupt=%u\n", (unsigned)wu, (unsigned)es, (unsigned)k, (unsigned)fallbacks,
           (unsigned)corrupt);

    /* 2. A transient failure at each callback call of a commit. */
    for (k = 0;; ++k) {
        et_status st;
        int w;
        fault_reset(&ram, region);
        ram.fail_call = k;
        st = commit(&s, g_new);
        if (ram.fail_call >= 0) {
            break;
        }
        ram.fail_call = -1;
        cases += 1u;
        errors += st != ET_OK;
        st = load(&s, &info);
        w = which();
        if (st != ET_OK || (w != 1 && w != 2)) {
            corrupt += 1u;
            fprintf(stderr, "commit, failed call %d: load %s\n", (int)k, et_status_str(st));
        }
        if (commit(&s, g_rec) != ET_OK || load(&s, &info) != ET_OK || which() != 4) {
            failed_recommit += 1u;
        }
    }
    printf("cases faults=commit-transient write_unit=%u erase_size=%u calls=%u failed_commits=%u "
           "corrupt=%u failed_recommits=%u\n", (unsigned)wu, (unsigned)es, (unsigned)k,
           (unsigned)errors, (unsigned)corrupt, (unsigned)failed_recommit);

    /* 3. Persistent bad ranges (read, erase, program) in either bank, under repeated commits. */
    {
        static const uint32_t ops[3] = {ET_RAM_FAIL_READ, ET_RAM_FAIL_ERASE, ET_RAM_FAIL_WRITE};
        /* offsets inside a bank: header start, CRC field, payload start, middle, last payload byte */
        const uint32_t where[5] = {0u, 28u, ET_STORAGE_HEADER_BYTES, used / 2u, used - 1u};
        uint32_t n = 0u, bad_loads = 0u, persistent_errors = 0u;
        int o, b, w;
        for (o = 0; o < 3; ++o) {
            for (b = 0; b < 2; ++b) {
                for (w = 0; w < 5; ++w) {
                    int rep;
                    fault_reset(&ram, region);
                    ram.bad_ops = ops[o];
                    ram.bad_lo = (uint32_t)b * bank + where[w];
                    ram.bad_hi = ram.bad_lo + 1u;
                    for (rep = 0; rep < 3; ++rep) {
                        et_status st = commit(&s, rep == 1 ? g_rec : g_new);
                        persistent_errors += st != ET_OK;
                        st = load(&s, &info);
                        n += 1u;
                        /* With the fault: a known commit, or an error (never other bytes). */
                        if (st == ET_OK ? which() == 0
                                        : st != ET_ERR_STORAGE_IO && st != ET_ERR_STORAGE_VERIFY) {
                            bad_loads += 1u;
                            fprintf(stderr, "bad range op %d bank %d at %u: load %s\n", o, b,
                                    (unsigned)where[w], et_status_str(st));
                        }
                    }
                    /* Cured (e.g. a transient cause): the next commit works and wins. */
                    ram.bad_ops = 0u;
                    if (commit(&s, g_new) != ET_OK || load(&s, &info) != ET_OK || which() != 2) {
                        failed_recommit += 1u;
                        fprintf(stderr, "bad range op %d bank %d at %u: no recovery\n", o, b,
                                (unsigned)where[w]);
                    }
                }
            }
        }
        cases += n;
        corrupt += bad_loads;
        printf("cases faults=bad-range write_unit=%u erase_size=%u loads=%u failed_commits=%u "
               "corrupt=%u failed_recommits=%u\n", (unsigned)wu, (unsigned)es, (unsigned)n,
               (unsigned)persistent_errors, (unsigned)bad_loads, (unsigned)failed_recommit);
    }

    /* 4. Multi-bit flips (1..8 scattered bits, or a burst of up to 64) in the newest bank, or in
     * both banks: the CRC must reject the damaged bank. */
    {
        uint32_t n = 0u, bad_loads = 0u, rejected = 0u;
        for (t = 0; t < 3000; ++t) {
            const int both = t % 4 == 3;
            int bnk;
            et_status st;
            int w;
            int changed[2] = {0, 0};
            fault_reset(&ram, region);
            for (bnk = both ? 0 : 1; bnk < 2; ++bnk) {
                const uint32_t base = (uint32_t)bnk * bank;
                if (t % 2 == 0) {
                    const int nbits = 1 + (t / 2) % 8;
                    int i;
                    for (i = 0; i < nbits; ++i) {
                        const uint32_t bit = rnd() % (used * 8u);
                        g_flash[base + bit / 8u] ^= (unsigned char)(1u << (bit % 8u));
                    }
                } else {
                    const uint32_t len = 2u + rnd() % 63u;
                    const uint32_t first = rnd() % (used * 8u - len);
                    uint32_t i;
                    for (i = first; i < first + len; ++i) {
                        g_flash[base + i / 8u] ^= (unsigned char)(1u << (i % 8u));
                    }
                }
                changed[bnk] = memcmp(g_flash + base, g_snapshot + base, used) != 0;
            }
            st = load(&s, &info);
            w = st == ET_OK ? which() : 0;
            n += 1u;
            /* Expected: bank B intact -> old; B damaged, A intact -> mid; both damaged -> empty. */
            if (!changed[1] ? (st != ET_OK || w != 1)
                            : !changed[0] ? (st != ET_OK || w != 3) : st != ET_ERR_STORAGE_EMPTY) {
                bad_loads += 1u;
                fprintf(stderr, "bit flips, trial %d: load %s gave %d\n", t, et_status_str(st), w);
            }
            rejected += changed[1];
            if (commit(&s, g_new) != ET_OK || load(&s, &info) != ET_OK || which() != 2) {
                failed_recommit += 1u;
            }
        }
        cases += n;
        corrupt += bad_loads;
        printf("cases faults=bit-flips write_unit=%u erase_size=%u loads=%u damaged_newest=%u "
               "corrupt=%u failed_recommits=%u\n", (unsigned)wu, (unsigned)es, (unsigned)n,
               (unsigned)rejected, (unsigned)bad_loads, (unsigned)failed_recommit);
    }
    printf("faults total=%u corrupt=%u failed_recommits=%u\n", (unsigned)cases, (unsigned)corrupt,
           (unsigned)failed_recommit);
    return (int)(corrupt + failed_recommit);
}

int main(int argc, char **argv)
{
    fill(g_old, 1.0f);
    fill(g_new, -2.0f);
    fill(g_mid, 3.0f);
    fill(g_rec, 5.0f);
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
    if (argc == 4 && strcmp(argv[1], "faults") == 0) {
        const uint32_t wu = (uint32_t)strtoul(argv[2], NULL, 10);
        const uint32_t es = (uint32_t)strtoul(argv[3], NULL, 10);
        if (bank_for(es) > MAX_BANK) {
            io_die("erase size too large for the driver's flash");
        }
        return run_faults(wu, es) == 0 ? 0 : 1;
    }
    if (argc == 5 && strcmp(argv[1], "powercut") == 0) {
        const uint32_t wu = (uint32_t)strtoul(argv[2], NULL, 10);
        const uint32_t es = (uint32_t)strtoul(argv[3], NULL, 10);
        if (bank_for(es) > MAX_BANK) {
            io_die("erase size too large for the driver's flash");
        }
        return run_powercut(wu, es, atoi(argv[4])) == 0 ? 0 : 1;
    }
    io_die("usage: storage_driver crc DIR | units | powercut WRITE_UNIT ERASE_SIZE TORN | "
           "faults WRITE_UNIT ERASE_SIZE");
    return 2;
}

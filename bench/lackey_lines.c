/* lackey_lines: the cache lines each frame touches, from valgrind's lackey.
 *
 *   valgrind --tool=lackey --trace-mem=yes PROGRAM ... 2>&1 |
 *       lackey_lines BEGIN_ADDR END_ADDR
 *
 * Reads lackey's trace (`I  addr,size` for an instruction, ` L`, ` S`, ` M`
 * for a load, store or modify of data) and counts only what lies between a
 * store to BEGIN_ADDR and the next store to END_ADDR (bench_pipeline
 * --footprint makes one such window per frame). For each window it prints
 *
 *   F instructions code_lines data_lines code_bytes
 *   C line first_instruction_address instructions     (one per code line)
 *   D line accesses                                   (one per data line)
 *
 * lines being 64-byte cache lines (address / 64, in hex), code_bytes the
 * bytes of the distinct instructions run (what the code would take packed
 * together: unlike the lines, it does not move with where the functions fall
 * against line boundaries, so it tells a smaller path from a luckier
 * layout). bench/footprint.py
 * reads this and names the code by the program's symbols. The trace of a
 * whole run is hundreds of millions of lines, too many for Python.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SET_SLOTS = 1 << 14 };

typedef struct {
    uint64_t key[SET_SLOTS]; /* line + 1; 0 = empty */
    uint64_t first[SET_SLOTS];
    uint64_t count[SET_SLOTS];
    uint32_t used[SET_SLOTS];
    size_t n_used;
} line_set_t;

static line_set_t code, data;

/* The distinct instructions of a window, by address, and their bytes. */
enum { INSN_SLOTS = 1 << 15 };
static uint64_t insn_key[INSN_SLOTS]; /* address + 1; 0 = empty */
static uint32_t insn_used[INSN_SLOTS];
static size_t insn_n;
static uint64_t insn_bytes;

static void insn_add(uint64_t addr, uint64_t size)
{
    size_t i = (size_t)((addr * 0x9E3779B97F4A7C15ull) >> 49) & (INSN_SLOTS - 1);
    while (insn_key[i] != 0 && insn_key[i] != addr + 1)
        i = (i + 1) & (INSN_SLOTS - 1);
    if (insn_key[i] != 0)
        return;
    if (insn_n >= INSN_SLOTS / 2) {
        fprintf(stderr, "lackey_lines: more than %d instructions in a frame\n", INSN_SLOTS / 2);
        exit(1);
    }
    insn_key[i] = addr + 1;
    insn_used[insn_n++] = (uint32_t)i;
    insn_bytes += size;
}

static void insn_clear(void)
{
    for (size_t j = 0; j < insn_n; j++)
        insn_key[insn_used[j]] = 0;
    insn_n = 0;
    insn_bytes = 0;
}

static void set_add(line_set_t *s, uint64_t line, uint64_t addr)
{
    size_t i = (size_t)((line * 0x9E3779B97F4A7C15ull) >> 50) & (SET_SLOTS - 1);
    while (s->key[i] != 0 && s->key[i] != line + 1)
        i = (i + 1) & (SET_SLOTS - 1);
    if (s->key[i] == 0) {
        if (s->n_used >= SET_SLOTS / 2) {
            fprintf(stderr, "lackey_lines: more than %d lines in a frame\n", SET_SLOTS / 2);
            exit(1);
        }
        s->key[i] = line + 1;
        s->first[i] = addr;
        s->count[i] = 0;
        s->used[s->n_used++] = (uint32_t)i;
    }
    s->count[i]++;
}

static void set_clear(line_set_t *s)
{
    for (size_t j = 0; j < s->n_used; j++)
        s->key[s->used[j]] = 0;
    s->n_used = 0;
}

/* Parses "hex,dec" at p; returns false if it is not that. */
static bool parse_access(const char *p, uint64_t *addr, uint64_t *size)
{
    uint64_t a = 0;
    const char *q = p;
    for (;; q++) {
        int c = *q, v;
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
        else
            break;
        a = a << 4 | (uint64_t)v;
    }
    if (q == p || *q != ',')
        return false;
    *addr = a;
    *size = strtoull(q + 1, NULL, 10);
    return true;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s BEGIN_ADDR END_ADDR < lackey-trace\n", argv[0]);
        return 2;
    }
    uint64_t begin = strtoull(argv[1], NULL, 16), end = strtoull(argv[2], NULL, 16);
    char buf[256];
    bool inside = false;
    uint64_t instructions = 0, frames = 0;
    while (fgets(buf, sizeof buf, stdin)) {
        uint64_t addr, size;
        if (buf[0] == 'I' && buf[1] == ' ') {
            if (inside && parse_access(buf + 3, &addr, &size)) {
                instructions++;
                insn_add(addr, size);
                for (uint64_t l = addr >> 6; l <= (addr + size - 1) >> 6; l++)
                    set_add(&code, l, addr);
            }
            continue;
        }
        if (buf[0] != ' ' || !strchr("LSM", buf[1]) || buf[2] != ' ' ||
            !parse_access(buf + 3, &addr, &size))
            continue;
        bool store = buf[1] != 'L';
        if (store && addr == begin) {
            set_clear(&code);
            set_clear(&data);
            insn_clear();
            instructions = 0;
            inside = true;
        } else if (store && addr == end) {
            if (!inside)
                continue;
            inside = false;
            frames++;
            printf("F %llu %zu %zu %llu\n", (unsigned long long)instructions, code.n_used,
                   data.n_used, (unsigned long long)insn_bytes);
            for (size_t j = 0; j < code.n_used; j++) {
                uint32_t i = code.used[j];
                printf("C %llx %llx %llu\n", (unsigned long long)(code.key[i] - 1),
                       (unsigned long long)code.first[i], (unsigned long long)code.count[i]);
            }
            for (size_t j = 0; j < data.n_used; j++) {
                uint32_t i = data.used[j];
                printf("D %llx %llu\n", (unsigned long long)(data.key[i] - 1),
                       (unsigned long long)data.count[i]);
            }
        } else if (inside && addr != begin && addr != end) {
            for (uint64_t l = addr >> 6; l <= (addr + size - 1) >> 6; l++)
                set_add(&data, l, addr);
        }
    }
    fprintf(stderr, "lackey_lines: %llu frames\n", (unsigned long long)frames);
    return frames ? 0 : 1;
}

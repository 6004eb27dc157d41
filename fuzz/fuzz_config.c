/* fuzz_config: libFuzzer target for the configuration parser (daemon/config.c).
 *
 * The input is the text of a configuration file, parsed in memory with
 * config_load_buffer. Invariants:
 *  - no crash, no sanitizer report, no read past the input;
 *  - the result is >= 0 (a buffer is always readable) and equals the number
 *    of problem lines reported, each of the form "NAME..." and non-empty;
 *  - a valid result round-trips: config_write's text loads without a
 *    problem into the same settings (device lines and the path aside), and
 *    writing that again gives the same text byte for byte. */
#include "config.h"
#include "fuzz.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define NAME "fuzz.ini"

static void count_problem(const char *message, void *ctx)
{
    int *n = ctx;
    REQUIRE(message != NULL && strncmp(message, NAME, strlen(NAME)) == 0);
    REQUIRE(strlen(message) > strlen(NAME) + 2);
    (*n)++;
}

/* Writes cfg to text[size]; returns its length. */
static size_t write_text(const config_t *cfg, char *text, size_t size)
{
    FILE *f = fmemopen(text, size, "w");
    REQUIRE(f != NULL);
    REQUIRE(config_write(cfg, f) == 0);
    long len = ftell(f);
    REQUIRE(fclose(f) == 0);
    REQUIRE(len > 0 && (size_t)len < size);
    return (size_t)len;
}

/* The settings alone: the path and device lines are where a value came from. */
static void normalise(config_t *cfg)
{
    memset(cfg->path, 0, sizeof cfg->path);
    for (int d = 0; d < cfg->n_devices; d++)
        cfg->devices[d].line = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static config_t cfg, again;
    static char text[64 * 1024], text2[64 * 1024];
    int problems = 0;
    int rc = config_load_buffer(NAME, (const char *)data, size, &cfg, count_problem, &problems);
    REQUIRE(rc >= 0);
    REQUIRE(rc == problems);
    if (rc != 0)
        return 0;
    REQUIRE(cfg.n_devices >= 0 && cfg.n_devices <= CONFIG_MAX_DEVICES);
    REQUIRE(strcmp(cfg.path, NAME) == 0);

    size_t len = write_text(&cfg, text, sizeof text);
    int problems2 = 0;
    rc = config_load_buffer(NAME, text, len, &again, count_problem, &problems2);
    if (rc != 0)
        fprintf(stderr, "written text:\n%.*s\n", (int)len, text);
    REQUIRE(rc == 0 && problems2 == 0);
    size_t len2 = write_text(&again, text2, sizeof text2);
    REQUIRE(len2 == len && memcmp(text, text2, len) == 0);
    normalise(&cfg);
    normalise(&again);
    REQUIRE(memcmp(&cfg, &again, sizeof cfg) == 0);
    return 0;
}

#include "score_map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Resolves the condition name (*one = NULL for "all") and opens the CSV
 * with its header (else *csv = NULL). Returns 0, 2 for an unknown name or 1
 * when the CSV cannot be opened. */
static int map_open(const score_condition_t *table, size_t n, const char *name,
                    const char *csv_path, const score_condition_t **one, FILE **csv)
{
    *one = NULL;
    *csv = NULL;
    if (strcmp(name, "all") != 0) {
        for (size_t i = 0; i < n && !*one; i++)
            if (strcmp(table[i].name, name) == 0)
                *one = &table[i];
        if (!*one) {
            fprintf(stderr, "unknown condition %s; one of: all", name);
            for (size_t i = 0; i < n; i++)
                fprintf(stderr, " %s", table[i].name);
            fprintf(stderr, "\n");
            return 2;
        }
    }
    if (csv_path) {
        *csv = fopen(csv_path, "w");
        if (!*csv) {
            perror(csv_path);
            return 1;
        }
        fprintf(*csv, "detector,condition,unit,value,metric,score\n");
    }
    return 0;
}

bool score_map_option(score_map_options_t *o, int argc, char **argv, int *i)
{
    if (*i + 1 >= argc)
        return false;
    if (strcmp(argv[*i], "--map") == 0)
        o->condition = argv[++*i];
    else if (strcmp(argv[*i], "--map-seeds") == 0)
        o->n_seeds = atoi(argv[++*i]);
    else if (strcmp(argv[*i], "--map-csv") == 0)
        o->csv_path = argv[++*i];
    else if (strcmp(argv[*i], "--frame-loss") == 0)
        o->frame_loss = atof(argv[++*i]);
    else if (strcmp(argv[*i], "--stamp-jitter") == 0)
        o->stamp_jitter_us = atof(argv[++*i]);
    else if (strcmp(argv[*i], "--fix") == 0)
        o->fix = argv[++*i];
    else
        return false;
    if (session_link_check(o->frame_loss, o->stamp_jitter_us) != 0) {
        fprintf(stderr, "%s %s: out of range (--frame-loss 0 to under 1, --stamp-jitter 0 to "
                        "100000 us)\n",
                argv[*i - 1], argv[*i]);
        return false;
    }
    return true;
}

int score_map_resolve(score_map_options_t *o, const score_condition_t *table, size_t n)
{
    if (!o->fix)
        return 0;
    const char *eq = strchr(o->fix, '=');
    char *end = NULL;
    if (eq) {
        o->fix_value = strtod(eq + 1, &end);
        for (size_t i = 0; i < n && end != eq + 1 && *end == '\0'; i++)
            if (strlen(table[i].name) == (size_t)(eq - o->fix) &&
                strncmp(table[i].name, o->fix, (size_t)(eq - o->fix)) == 0)
                o->fix_condition = &table[i];
    }
    if (o->fix_condition)
        return 0;
    fprintf(stderr, "--fix %s: not CONDITION=VALUE with a condition of the map (--map all lists "
                    "them) and a number\n",
            o->fix);
    return -1;
}

void score_map_link(const score_map_options_t *o, session_settings_t *s)
{
    s->frame_loss = o->frame_loss;
    s->stamp_jitter_us = o->stamp_jitter_us;
    const score_condition_t *c = o->fix_condition;
    if (!c)
        return;
    session_settings_hard_cases(s, session_settings_hard(s) | c->hard);
    c->apply(s, o->fix_value);
}

void score_map_print_link(const score_map_options_t *o, const char *sep)
{
    if (o->frame_loss > 0.0)
        printf("%s%g of the frames lost", sep, o->frame_loss);
    if (o->stamp_jitter_us > 0.0)
        printf("%sstamps off by up to %g us", sep, o->stamp_jitter_us);
    if (o->fix_condition)
        printf("%s%s", sep, o->fix);
}

void score_map_set_frame_loss(void *settings, double value)
{
    ((session_settings_t *)settings)->frame_loss = value;
}

void score_map_set_stamp_jitter(void *settings, double value)
{
    ((session_settings_t *)settings)->stamp_jitter_us = value;
}

void score_map_set_samples_per_frame(void *settings, double value)
{
    ((session_settings_t *)settings)->samples_per_frame = (unsigned)value;
}

/* The run's settings, for the sweep of each condition. */
typedef struct {
    device_kind_t kind;
    const char *columns;
    int n_seeds;
    double duration_s;
    const score_map_options_t *o;
    score_map_session_fn session;
    score_map_bin_fn bin;
    void *ctx;
    FILE *csv;
} run_t;

/* One condition's table: per value, the bin's sessions and its row. Returns
 * 0 or -1 when a session failed. */
static int sweep(const run_t *run, const score_condition_t *c)
{
    printf("\n%s (%s)\n", c->name, c->unit);
    printf("| %s | %s |\n", c->name, run->columns);
    printf("| ---: |");
    for (const char *p = run->columns; *p; p++)
        if (*p == '|')
            printf(" ---: |");
    printf(" ---: |\n");
    for (int b = 0; b < c->n_values; b++) {
        for (int k = 0; k < run->n_seeds; k++) {
            session_settings_t s;
            session_settings_default(&s, run->kind, (uint64_t)(SCORE_MAP_SEED0 + k),
                                     run->duration_s);
            session_settings_hard_cases(&s, c->hard);
            score_map_link(run->o, &s);
            c->apply(&s, c->values[b]);
            if (run->session(&s, run->ctx) != 0)
                return -1;
        }
        run->bin(c, c->values[b], run->n_seeds, run->csv, run->ctx);
    }
    return 0;
}

int score_map_run(const char *tool, device_kind_t kind, const char *columns,
                  const score_condition_t *table, size_t n, const score_map_options_t *o,
                  double duration_s, score_map_session_fn session, score_map_bin_fn bin, void *ctx)
{
    const score_condition_t *one;
    run_t run = {kind, columns, o->n_seeds < 1 ? 1 : o->n_seeds, duration_s, o, session, bin,
                 ctx,  NULL};
    int opened = map_open(table, n, o->condition, o->csv_path, &one, &run.csv);
    if (opened != 0)
        return opened;
    printf("%s robustness map: %d seeds from %d per bin, %.0f s each\n", tool, run.n_seeds,
           SCORE_MAP_SEED0, duration_s);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (!one || one == &table[i])
            rc = sweep(&run, &table[i]);
    if (run.csv)
        fclose(run.csv);
    return rc ? 1 : 0;
}

void score_map_csv_row(FILE *f, const char *detector, const score_condition_t *c, double value,
                       const char *metric, double score)
{
    fprintf(f, "%s,%s,%s,%.6g,%s,%.6g\n", detector, c->name, c->unit, value, metric, score);
}

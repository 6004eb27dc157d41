/* score_match: scoring detected intervals against true ones, for the
 * accuracy scorers (docs/ACCURACY.md, "Method").
 *
 * Matching rule: a detected interval matches a true interval of the same
 * type when its onset is within onset_tol_s of the true onset and its offset
 * within max(offset_tol_s, offset_frac * true length) of the true offset;
 * each true and each detected interval matches at most once. Among the
 * admissible pairs the closest (sum of the absolute onset and offset errors)
 * are taken first, greedily, so the result does not depend on the order the
 * intervals were reported in.
 *
 * A score_tally_t accumulates counts and errors over many sessions; it
 * grows its error arrays with realloc (a tool, not the streaming path).
 * One thread per object.
 */
#ifndef MASSAGED_SCORE_MATCH_H
#define MASSAGED_SCORE_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

typedef struct {
    double t_start, t_end; /* seconds */
} score_interval_t;

typedef struct {
    double onset_tol_s;  /* 0.2 */
    double offset_tol_s; /* 0.3 */
    double offset_frac;  /* 0.5: or this share of the true length, if larger */
} score_rule_t;

extern const score_rule_t score_rule_default;

/* Matches det[0..n_det) to truth[0..n_truth). Writes, for each detected
 * interval, the index of its true interval or -1 into match_of_det (n_det
 * entries). Returns the number of matches, or -ENOMEM. */
int score_match(const score_rule_t *rule, const score_interval_t *truth, size_t n_truth,
                const score_interval_t *det, size_t n_det, int *match_of_det);

/* A growing list of values (errors in seconds, ratios, ...). */
typedef struct {
    double *v;
    size_t n, cap;
} score_values_t;

/* Appends; returns 0 or -ENOMEM. */
int score_values_add(score_values_t *s, double x);
void score_values_free(score_values_t *s);

/* The p-quantile (0..1) by linear interpolation between order statistics
 * (sorts s->v in place). NAN when empty. */
double score_values_quantile(score_values_t *s, double p);

/* Counts and errors of one event type. */
typedef struct {
    uint64_t n_true, n_detected, n_matched;
    score_values_t onset_err;  /* detected - true onset, seconds */
    score_values_t offset_err; /* detected - true offset, seconds */
} score_tally_t;

/* Adds one session's matching of one type; returns 0 or -ENOMEM. */
int score_tally_add(score_tally_t *t, const score_rule_t *rule, const score_interval_t *truth,
                    size_t n_truth, const score_interval_t *det, size_t n_det, int *match_of_det);

double score_precision(const score_tally_t *t);
double score_recall(const score_tally_t *t);
double score_f1(const score_tally_t *t);
void score_tally_free(score_tally_t *t);

/* ---- robustness maps (docs/ACCURACY.md, "Robustness map") ---- */

/* Most values one condition is swept over. */
#define SCORE_MAP_MAX_VALUES 8

/* One physical condition of a robustness map: set to each value in turn,
 * everything else drawn from the development world. `apply` writes the
 * value into the session's settings; `hard` are the simulator's hard-case
 * flags the condition needs on (tremor for the tremor's strength, ...). */
typedef struct {
    const char *name; /* as on the command line and in the CSV */
    const char *unit;
    int hard;
    void (*apply)(void *settings, double value);
    int n_values;
    double values[SCORE_MAP_MAX_VALUES];
} score_condition_t;

/* The sessions of a map bin take the seeds from SCORE_MAP_SEED0 on, the
 * same in every bin, so that only the condition changes (apart from the
 * scorers' development, held-out and stress seeds). */
#define SCORE_MAP_SEED0 300001

/* A map run as the command line asks for it. */
typedef struct {
    const char *condition; /* --map: a condition's name or "all"; NULL: no map */
    int n_seeds;           /* --map-seeds: sessions per bin (below 1 counts as 1) */
    const char *csv_path;  /* --map-csv, or NULL */
} score_map_options_t;

/* The map's line of a scorer's usage text: a printf format that takes the
 * program's name. */
#define SCORE_MAP_USAGE                                                                            \
    "       %s --map CONDITION|all [--map-seeds N] [--map-csv FILE] [--duration S]\n"

/* When argv[*i] is --map, --map-seeds or --map-csv with its value after it,
 * stores the value in *o, moves *i to the value and returns true. */
bool score_map_option(score_map_options_t *o, int argc, char **argv, int *i);

/* Sweeps one condition: its table, n_seeds sessions of duration_s per
 * value (seeds from SCORE_MAP_SEED0), rows into csv when not NULL. Returns
 * 0 or -1 on a failure. */
typedef int (*score_map_condition_fn)(const score_condition_t *c, int n_seeds, double duration_s,
                                      FILE *csv, void *ctx);

/* --map: resolves o->condition against the table of n (an unknown name
 * lists the choices on stderr), opens the CSV and writes its header when
 * asked, prints the run's title line for the program `tool`, and sweeps
 * the condition (or each, for "all") with sweep. Returns the exit code: 0, 1 (a failure, or a CSV
 * that cannot be opened) or 2 (an unknown condition). */
int score_map_run(const char *tool, const score_condition_t *table, size_t n,
                  const score_map_options_t *o, double duration_s, score_map_condition_fn sweep,
                  void *ctx);

/* One CSV row (columns detector,condition,unit,value,metric,score, as
 * tools/massaged-map-plot reads them): detector ("ball" or "scraper"), condition, unit, value,
 * metric (e.g. "flex_f1") and score. */
void score_map_csv_row(FILE *f, const char *detector, const score_condition_t *c, double value,
                       const char *metric, double score);

#endif

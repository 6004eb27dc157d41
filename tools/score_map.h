/* score_map: the robustness map of both accuracy scorers (docs/ACCURACY.md,
 * "Robustness map"): one physical condition at a time swept across its
 * values, the same seeds in every bin, a table row per value and, when
 * asked, CSV rows for tools/massaged-map-plot.
 *
 * The sweep (conditions, values, sessions and their settings, the table's
 * frame, the CSV) is here; a scorer gives its table of conditions, its
 * columns, and what it does with one session and with one finished bin.
 */
#ifndef MASSAGED_SCORE_MAP_H
#define MASSAGED_SCORE_MAP_H

#include "session.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

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

/* The conditions both scorers' maps sweep last, of the link rather than
 * the body: frames lost in transit (a line's noise, a radio's dropouts),
 * which the daemon sees as jumps in `seq` (../shared/spec/protocol.md),
 * frames stamped off their first sample's time (firmware that stamps when
 * it sends, or from a coarse timer), which the daemon's sample index sees as
 * lost or overlapping samples, and the samples a frame carries (1-30: a
 * firmware's choice of latency against overhead). */
void score_map_set_frame_loss(void *settings, double value);
void score_map_set_stamp_jitter(void *settings, double value);
void score_map_set_samples_per_frame(void *settings, double value);
#define SCORE_MAP_LINK_CONDITIONS                                                                  \
    {"frame_loss", "share of frames", 0, score_map_set_frame_loss, 5,                              \
     {0, 0.001, 0.003, 0.01, 0.03}},                                                               \
    {"stamp_jitter", "us", 0, score_map_set_stamp_jitter, 5, {0, 300, 600, 1000, 2000}},          \
    {"samples_per_frame", "samples", 0, score_map_set_samples_per_frame, 5, {1, 3, 10, 20, 30}}

/* The sessions of a map bin take the seeds from SCORE_MAP_SEED0 on, the
 * same in every bin, so that only the condition changes (apart from the
 * scorers' development, held-out and stress seeds). */
#define SCORE_MAP_SEED0 300001

/* A map run as the command line asks for it. */
typedef struct {
    const char *condition; /* --map: a condition's name or "all"; NULL: no map */
    int n_seeds;           /* --map-seeds: sessions per bin (below 1 counts as 1) */
    const char *csv_path;  /* --map-csv, or NULL */
    double frame_loss;     /* --frame-loss: share of SAMPLES frames lost in every session,
                              the map's and the scorer's sets (session_settings_t) */
    double stamp_jitter_us; /* --stamp-jitter: ... frames' stamps off by up to this, us */
    const char *fix;       /* --fix CONDITION=VALUE as given, or NULL */
    const score_condition_t *fix_condition; /* ... that condition (score_map_resolve) */
    double fix_value;                       /* ... and its value */
} score_map_options_t;

/* The map's line of a scorer's usage text: a printf format that takes the
 * program's name. */
#define SCORE_MAP_USAGE                                                                            \
    "       %s --map CONDITION|all [--map-seeds N] [--map-csv FILE] [--duration S]\n"             \
    "       (either form) [--frame-loss SHARE] [--stamp-jitter US] [--fix CONDITION=VALUE]\n"

/* When argv[*i] is --map, --map-seeds, --map-csv, --frame-loss,
 * --stamp-jitter or --fix with its value after it, stores the value in *o,
 * moves *i to the value and returns true; false for another argument or a
 * value out of range (said on stderr). */
bool score_map_option(score_map_options_t *o, int argc, char **argv, int *i);

/* Finds --fix's condition in the scorer's table of n conditions: 0, or -1
 * (said on stderr) for an unknown name or a value that is not a number. */
int score_map_resolve(score_map_options_t *o, const score_condition_t *table, size_t n);

/* Sets what o asks of every session in a session's settings, last, after
 * everything else: the link (--frame-loss, --stamp-jitter) and one map
 * condition held at one value (--fix, with its hard cases added to the
 * session's own), for the map's sessions and the scorers' sets alike: a
 * scorer's sets under one condition, or a map's sweep of another with it. */
void score_map_link(const score_map_options_t *o, session_settings_t *s);

/* Prints what score_map_link sets, each part after sep ("; 0.01 of the
 * frames lost; flex_wander=0.2"), for a scorer's header line. */
void score_map_print_link(const score_map_options_t *o, const char *sep);

/* Runs one session of a bin into the scorer's tally (ctx); returns 0, or
 * -1 to stop the run. */
typedef int (*score_map_session_fn)(const session_settings_t *s, void *ctx);

/* A bin is complete: prints its table row (and its CSV rows when csv is not
 * NULL) from the tally of n_seeds sessions, then empties the tally. */
typedef void (*score_map_bin_fn)(const score_condition_t *c, double value, int n_seeds, FILE *csv,
                                 void *ctx);

/* --map for the program `tool`: resolves o->condition against the table of
 * n (an unknown name lists the choices on stderr), opens the CSV and writes
 * its header when asked, prints the title line, and for the condition (or
 * each, for "all") its table, whose columns after the value are `columns`
 * ("F1 | count exact | ..."): per value, n_seeds sessions of kind and
 * duration_s (the development world's defaults, the condition's hard
 * cases, its value) given to session, then the bin's row from bin. ctx is
 * the scorer's tally, empty before the run. Returns the exit code: 0, 1 (a
 * failed session, or a CSV that cannot be opened) or 2 (an unknown
 * condition). */
int score_map_run(const char *tool, device_kind_t kind, const char *columns,
                  const score_condition_t *table, size_t n, const score_map_options_t *o,
                  double duration_s, score_map_session_fn session, score_map_bin_fn bin, void *ctx);

/* One CSV row (columns detector,condition,unit,value,metric,score, as
 * tools/massaged-map-plot reads them): detector ("ball" or "scraper"),
 * condition, unit, value, metric (e.g. "flex_f1") and score. */
void score_map_csv_row(FILE *f, const char *detector, const score_condition_t *c, double value,
                       const char *metric, double score);

#endif

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

#include <stddef.h>
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

#endif

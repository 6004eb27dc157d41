#include "score_match.h"
#include "grow.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const score_rule_t score_rule_default = {
    .onset_tol_s = 0.2, .offset_tol_s = 0.3, .offset_frac = 0.5};

typedef struct {
    double cost;
    int t, d;
} pair_t;

static int pair_cmp(const void *a, const void *b)
{
    const pair_t *x = a, *y = b;
    if (x->cost != y->cost)
        return x->cost < y->cost ? -1 : 1;
    if (x->t != y->t) /* ties broken by index: deterministic */
        return x->t - y->t;
    return x->d - y->d;
}

int score_match(const score_rule_t *rule, const score_interval_t *truth, size_t n_truth,
                const score_interval_t *det, size_t n_det, int *match_of_det)
{
    size_t cap = 0, n = 0;
    pair_t *pairs = NULL;
    char *used = calloc(n_truth + 1, 1);
    if (!used)
        return -ENOMEM;
    for (size_t d = 0; d < n_det; d++) {
        match_of_det[d] = -1;
        for (size_t t = 0; t < n_truth; t++) {
            double on = fabs(det[d].t_start - truth[t].t_start);
            double off = fabs(det[d].t_end - truth[t].t_end);
            double len = truth[t].t_end - truth[t].t_start;
            double off_tol = fmax(rule->offset_tol_s, rule->offset_frac * len);
            if (on > rule->onset_tol_s || off > off_tol)
                continue;
            if (GROW_APPEND(pairs, cap, n, 64, (pair_t){on + off, (int)t, (int)d}) != 0) {
                free(pairs);
                free(used);
                return -ENOMEM;
            }
        }
    }
    if (n > 0) /* pairs is NULL when there are none */
        qsort(pairs, n, sizeof *pairs, pair_cmp);
    int matched = 0;
    for (size_t i = 0; i < n; i++) {
        if (used[pairs[i].t] || match_of_det[pairs[i].d] >= 0)
            continue;
        used[pairs[i].t] = 1;
        match_of_det[pairs[i].d] = pairs[i].t;
        matched++;
    }
    free(pairs);
    free(used);
    return matched;
}

int score_values_add(score_values_t *s, double x)
{
    return GROW_APPEND(s->v, s->cap, s->n, 256, x);
}

void score_values_free(score_values_t *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double score_values_quantile(score_values_t *s, double p)
{
    if (s->n == 0)
        return NAN;
    qsort(s->v, s->n, sizeof *s->v, dbl_cmp);
    double pos = p * (double)(s->n - 1);
    size_t i = (size_t)pos;
    if (i + 1 >= s->n)
        return s->v[s->n - 1];
    double f = pos - (double)i;
    return s->v[i] + f * (s->v[i + 1] - s->v[i]);
}

int score_tally_add(score_tally_t *t, const score_rule_t *rule, const score_interval_t *truth,
                    size_t n_truth, const score_interval_t *det, size_t n_det, int *match_of_det)
{
    int m = score_match(rule, truth, n_truth, det, n_det, match_of_det);
    if (m < 0)
        return m;
    t->n_true += n_truth;
    t->n_detected += n_det;
    t->n_matched += (uint64_t)m;
    for (size_t d = 0; d < n_det; d++) {
        int k = match_of_det[d];
        if (k < 0)
            continue;
        if (score_values_add(&t->onset_err, det[d].t_start - truth[k].t_start) ||
            score_values_add(&t->offset_err, det[d].t_end - truth[k].t_end))
            return -ENOMEM;
    }
    return 0;
}

double score_precision(const score_tally_t *t)
{
    return t->n_detected ? (double)t->n_matched / (double)t->n_detected : 1.0;
}

double score_recall(const score_tally_t *t)
{
    return t->n_true ? (double)t->n_matched / (double)t->n_true : 1.0;
}

double score_f1(const score_tally_t *t)
{
    uint64_t d = t->n_true + t->n_detected;
    return d ? 2.0 * (double)t->n_matched / (double)d : 1.0;
}

void score_tally_free(score_tally_t *t)
{
    score_values_free(&t->onset_err);
    score_values_free(&t->offset_err);
}

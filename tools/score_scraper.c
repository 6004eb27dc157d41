/* massaged-score-scraper: accuracy of the stroke detector against the
 * scraping-tool simulator's truth (docs/ACCURACY.md, "Scraping tool").
 *
 * Each seed is one session whose conditions (tool tilt, limb inclination,
 * speeds, forces, noise, stroke lengths, hard cases) are drawn from the
 * seed, run through the daemon's real decoder, chain and analysis
 * (session.h). Published strokes are matched one to one with true strokes
 * by the shared rule of score_match.h (onsets within 200 ms, ends within
 * 300 ms or half the true stroke, closest pairs first).
 *
 * The publication delay (device time of the sample at which a stroke was
 * published, less its true end) is not visible through the chain, so the
 * same session is run a second time straight through the scraper's analysis
 * (the chain hands it the same samples, only quantised) and each matched
 * stroke's delay is recorded there.
 *
 * Usage: massaged-score-scraper [--seeds A-B] [--duration S] [--check]
 *                               [--verbose] [--hard LIST] [--stress]
 *        massaged-score-scraper --map CONDITION|all [--map-seeds N]
 *                               [--map-csv FILE] [--duration S] [--verbose]
 *        (either form) [--frame-loss SHARE] [--stamp-jitter US] [--fix CONDITION=VALUE]
 * --check exits 1 if a figure misses its floor. --map sweeps one physical
 * condition at a time (map_conditions) and prints the scores per value;
 * with --verbose, each bin's sessions and their misses are listed before
 * its row. --fix holds one of those conditions at one value in every
 * session of either form (tools/score_map.h).
 */
#include "analysis.h"
#include "grow.h"
#include "score_map.h"
#include "score_match.h"
#include "session.h"
#include "sim_rng.h"
#include "sim_scraper.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STROKES 20000

typedef struct {
    double t0, t1;
    double length, peak, mean_force, speed;
    const char *dir;
    int hard;
    double emitted_at; /* direct pass: device time of the emitting sample */
} stroke_rec_t;

typedef struct {
    stroke_rec_t *v;
    size_t n, cap;
} stroke_list_t;

static void list_add(stroke_list_t *l, const stroke_rec_t *r)
{
    if (GROW_APPEND(l->v, l->cap, l->n, 256, *r) != 0) {
        perror("realloc");
        exit(2);
    }
}

static stroke_rec_t record(const event_t *e)
{
    stroke_rec_t r;
    memset(&r, 0, sizeof r);
    r.t0 = e->t_start_dev;
    r.t1 = e->t_dev;
    r.length = event_get_field(e, "length_m");
    r.peak = event_get_field(e, "peak_force_n");
    r.mean_force = event_get_field(e, "mean_force_n");
    r.speed = event_get_field(e, "mean_speed_mps");
    r.dir = e->text_value ? e->text_value : "?";
    double h = event_get_field(e, "hard_case");
    r.hard = isnan(h) ? 0 : (int)h;
    return r;
}

/* ---- one session ---- */

typedef struct {
    stroke_list_t truth, found, direct;
    uint64_t direct_emit_t_valid;
    double t_now; /* direct pass: the sample being pushed */
} run_t;

static void on_truth(const event_t *e, void *ctx)
{
    run_t *r = ctx;
    if (strcmp(e->type, "stroke") != 0)
        return;
    double trunc = event_get_field(e, "truncated");
    if (!isnan(trunc) && trunc != 0)
        return; /* no detector can have seen its end */
    stroke_rec_t rec = record(e);
    list_add(&r->truth, &rec);
}

static void on_event(void *ctx, const event_t *e, double t_host)
{
    (void)t_host;
    run_t *r = ctx;
    if (strcmp(e->type, "stroke") != 0)
        return;
    stroke_rec_t rec = record(e);
    list_add(&r->found, &rec);
}

static void on_direct(const event_t *e, void *ctx)
{
    run_t *r = ctx;
    if (strcmp(e->type, "stroke") != 0)
        return;
    stroke_rec_t rec = record(e);
    rec.emitted_at = r->t_now;
    list_add(&r->direct, &rec);
}

static void no_truth(const event_t *e, void *ctx)
{
    (void)e, (void)ctx;
}

/* The session's conditions, drawn from the seed. */
static void scenario(uint64_t seed, double duration_s, int hard, session_settings_t *ss)
{
    session_settings_default(ss, DEVICE_KIND_SCRAPER, seed, duration_s);
    sim_scraper_settings_t *s = &ss->scraper;
    sim_rng_t rng;
    sim_rng_seed(&rng, seed * 7919u + 17u);
    static const float tilts[] = {0.0f, 15.0f, 25.0f, 40.0f, 60.0f};
    s->tilt_deg_max = tilts[sim_rng_next(&rng) % 5];
    float inc = (float)(sim_rng_uniform(&rng) * 60.0);
    s->limb_incline_deg_min = inc;
    s->limb_incline_deg_max = inc + (float)(sim_rng_uniform(&rng) * (90.0 - inc));
    float sp = (float)(0.05 + 0.25 * sim_rng_uniform(&rng));
    s->speed_min_mps = sp;
    s->speed_max_mps = sp + (float)(0.3 * sim_rng_uniform(&rng));
    float f = (float)(3.0 + 20.0 * sim_rng_uniform(&rng));
    s->force_min_n = f;
    s->force_max_n = f + (float)(30.0 * sim_rng_uniform(&rng));
    float len = (float)(0.04 + 0.12 * sim_rng_uniform(&rng));
    s->stroke_len_min_m = len;
    s->stroke_len_max_m = len + (float)(0.25 * sim_rng_uniform(&rng));
    static const float noises[] = {0.5f, 1.0f, 1.0f, 1.5f, 2.0f};
    s->noise = noises[sim_rng_next(&rng) % 5];
    s->down_fraction = 0.35f;
    s->level_fraction = 0.2f;
    s->hard_cases = hard;
    s->hard_case_share = 0.3f;
    /* Every fifth session is noisy throughout. */
    if ((hard & SIM_SCRAPER_NOISY) == 0 || sim_rng_next(&rng) % 5 != 0)
        s->hard_cases &= ~SIM_SCRAPER_NOISY;
}

/* The floors --check asserts (and the tables print): issue #19's targets
 * for F1, exact counts, direction and peak force; the length error and the
 * publication delay as before. */
#define FLOOR_F1 0.995
#define FLOOR_EXACT 0.95
#define FLOOR_DIR 0.99
#define FLOOR_LEN_MED 0.15
#define FLOOR_PEAK_MED 0.03
#define FLOOR_DELAY_P99 0.1

/* A stress session: beyond the development draws on the side where the
 * detector suffers (never tuned on): nearly level limbs (0-10 deg, the sole
 * any way), tool tilt 45-60 deg, sensor noise x2-4, force zero drift x2-4 in
 * all,
 * speeds 0.03-1.2 m/s, forces 2.5-80 N, lengths 2-50 cm, half the strokes
 * hard cases. */
static void stress_scenario(uint64_t seed, double duration_s, int hard, session_settings_t *ss)
{
    scenario(seed, duration_s, hard, ss);
    sim_scraper_settings_t *s = &ss->scraper;
    sim_rng_t rng;
    sim_rng_seed(&rng, seed * 104729u + 7u);
    s->limb_incline_deg_min = 0.0f;
    s->limb_incline_deg_max = 10.0f;
    s->tilt_deg_max = (float)(45.0 + 15.0 * sim_rng_uniform(&rng));
    s->noise = (float)(2.0 + 2.0 * sim_rng_uniform(&rng));
    /* zero_drift multiplies noise's own scaling of the drift: x2-4 in all. */
    s->zero_drift = (float)((2.0 + 2.0 * sim_rng_uniform(&rng)) / s->noise);
    s->speed_min_mps = 0.03f;
    s->speed_max_mps = 1.2f;
    s->force_min_n = 2.5f;
    s->force_max_n = 80.0f;
    s->stroke_len_min_m = 0.02f;
    s->stroke_len_max_m = 0.5f;
    s->hard_case_share = 0.5f;
}

static void direct_pass(const session_settings_t *ss, run_t *r)
{
    sim_scraper_t *sim = malloc(sizeof *sim);
    analysis_t *detector = analysis_create(DEVICE_KIND_SCRAPER, ss->scraper.rate_hz);
    if (!sim || !detector || sim_scraper_init(sim, &ss->scraper, ss->seed) != 0) {
        fprintf(stderr, "direct pass: setup failed\n");
        exit(2);
    }
    uint32_t id = 0;
    for (;;) {
        sample_t s;
        int flags = sim_scraper_step(sim, &s, no_truth, NULL);
        r->t_now = s.t_dev;
        analysis_push(detector, &s, &id, on_direct, r);
        if (flags & SIM_SCRAPER_END)
            break;
    }
    analysis_finish(detector, &id, on_direct, r);
    analysis_destroy(&detector);
    free(sim);
}

/* ---- matching and totals ---- */

typedef struct {
    uint64_t tp, fp, fn, sessions, exact, dir_ok;
    score_values_t onset, offset, length, peak, mean_force, speed, latency;
    uint64_t fn_by_kind[32], truth_by_kind[32];
} totals_t;

static void values_add(score_values_t *s, double x)
{
    if (score_values_add(s, x) != 0) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
}

/* One-to-one matching by the shared rule (score_match.h: onset within
 * 200 ms, end within 300 ms or half the true stroke); match[i] is the
 * index into found of truth i, or -1. */
static void match_lists(const stroke_list_t *truth, const stroke_list_t *found, int *match)
{
    score_interval_t *ti = malloc((truth->n + 1) * sizeof *ti);
    score_interval_t *di = malloc((found->n + 1) * sizeof *di);
    int *of_det = malloc((found->n + 1) * sizeof *of_det);
    if (!ti || !di || !of_det) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    for (size_t i = 0; i < truth->n; i++)
        ti[i] = (score_interval_t){truth->v[i].t0, truth->v[i].t1};
    for (size_t j = 0; j < found->n; j++)
        di[j] = (score_interval_t){found->v[j].t0, found->v[j].t1};
    if (score_match(&score_rule_default, ti, truth->n, di, found->n, of_det) < 0) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    for (size_t i = 0; i < truth->n; i++)
        match[i] = -1;
    for (size_t j = 0; j < found->n; j++)
        if (of_det[j] >= 0)
            match[of_det[j]] = j;
    free(ti), free(di), free(of_det);
}

static double rel(double est, double truth)
{
    return fabs(est - truth) / truth;
}

static void score_session(run_t *r, totals_t *tot, bool verbose, uint64_t seed)
{
    int *match = malloc((r->truth.n + 1) * sizeof *match);
    match_lists(&r->truth, &r->found, match);
    uint64_t tp = 0;
    for (size_t i = 0; i < r->truth.n; i++) {
        const stroke_rec_t *t = &r->truth.v[i];
        int kind = t->hard & 31;
        tot->truth_by_kind[kind]++;
        if (match[i] < 0) {
            tot->fn_by_kind[kind]++;
            if (verbose)
                printf("  seed %llu miss   %.3f-%.3f kind %d len %.3f peak %.1f\n",
                       (unsigned long long)seed, t->t0, t->t1, kind, t->length, t->peak);
            continue;
        }
        const stroke_rec_t *d = &r->found.v[match[i]];
        tp++;
        values_add(&tot->onset, d->t0 - t->t0);
        values_add(&tot->offset, d->t1 - t->t1);
        values_add(&tot->length, rel(d->length, t->length));
        values_add(&tot->peak, rel(d->peak, t->peak));
        values_add(&tot->mean_force, rel(d->mean_force, t->mean_force));
        values_add(&tot->speed, rel(d->speed, t->speed));
        if (strcmp(d->dir, t->dir) == 0)
            tot->dir_ok++;
        else if (verbose)
            printf("  seed %llu dir    %.3f-%.3f truth %s found %s len %.3f\n",
                   (unsigned long long)seed, t->t0, t->t1, t->dir, d->dir, t->length);
    }
    if (verbose) {
        char *hit = calloc(r->found.n + 1, 1);
        for (size_t i = 0; i < r->truth.n; i++)
            if (match[i] >= 0)
                hit[match[i]] = 1;
        for (size_t j = 0; j < r->found.n; j++)
            if (!hit[j])
                printf("  seed %llu extra  %.3f-%.3f len %.3f peak %.1f\n",
                       (unsigned long long)seed, r->found.v[j].t0, r->found.v[j].t1,
                       r->found.v[j].length, r->found.v[j].peak);
        free(hit);
    }
    tot->tp += tp;
    tot->fn += r->truth.n - tp;
    tot->fp += r->found.n - tp;
    tot->sessions++;
    if (r->found.n == r->truth.n)
        tot->exact++;

    /* Publication delay, from the direct pass. */
    match_lists(&r->truth, &r->direct, match);
    for (size_t i = 0; i < r->truth.n; i++)
        if (match[i] >= 0) {
            double delay = r->direct.v[match[i]].emitted_at - r->truth.v[i].t1;
            values_add(&tot->latency, delay);
            if (verbose && delay > 0.1)
                printf("  seed %llu late   %.3f-%.3f kind %d by %.0f ms\n",
                       (unsigned long long)seed, r->truth.v[i].t0, r->truth.v[i].t1,
                       r->truth.v[i].hard, 1e3 * delay);
        }
    free(match);
}

static void series_abs(score_values_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        s->v[i] = fabs(s->v[i]);
}

/* Runs one session through the chain and the direct pass and scores it. */
static int run_scored(const session_settings_t *ss, totals_t *tot, bool verbose)
{
    run_t r;
    memset(&r, 0, sizeof r);
    session_output_t out = {on_truth, &r, on_event, &r};
    session_stats_t st;
    int rc = session_run(ss, &out, &st);
    if (rc != 0) {
        fprintf(stderr, "seed %llu: session_run failed (%d)\n", (unsigned long long)ss->seed, rc);
        return rc;
    }
    direct_pass(ss, &r);
    if (verbose)
        printf("seed %llu: tilt %.0f limb %.0f-%.0f deg, speed %.2f-%.2f m/s, force "
               "%.0f-%.0f N, noise %.1f, hard 0x%x: truth %zu found %zu\n",
               (unsigned long long)ss->seed, ss->scraper.tilt_deg_max,
               ss->scraper.limb_incline_deg_min, ss->scraper.limb_incline_deg_max,
               ss->scraper.speed_min_mps, ss->scraper.speed_max_mps, ss->scraper.force_min_n,
               ss->scraper.force_max_n, ss->scraper.noise, ss->scraper.hard_cases, r.truth.n,
               r.found.n);
    score_session(&r, tot, verbose, ss->seed);
    free(r.truth.v);
    free(r.found.v);
    free(r.direct.v);
    return 0;
}

static void totals_free(totals_t *tot)
{
    score_values_free(&tot->onset), score_values_free(&tot->offset);
    score_values_free(&tot->length), score_values_free(&tot->peak);
    score_values_free(&tot->mean_force), score_values_free(&tot->speed);
    score_values_free(&tot->latency);
}

/* ---- robustness map ---- */

#define SC(settings) (&((session_settings_t *)(settings))->scraper)

static void set_incline(void *settings, double value)
{
    SC(settings)->limb_incline_deg_min = SC(settings)->limb_incline_deg_max = (float)value;
}
static void set_tilt(void *settings, double value)
{
    SC(settings)->tilt_deg_max = (float)value;
}
static void set_speed(void *settings, double value)
{
    SC(settings)->speed_min_mps = SC(settings)->speed_max_mps = (float)value;
}
static void set_length(void *settings, double value)
{
    SC(settings)->stroke_len_min_m = SC(settings)->stroke_len_max_m = (float)value;
}
static void set_force(void *settings, double value)
{
    SC(settings)->force_min_n = SC(settings)->force_max_n = (float)value;
}
static void set_hard_share(void *settings, double value)
{
    SC(settings)->hard_case_share = (float)value;
}
static void set_across(void *settings, double value)
{
    SC(settings)->level_fraction = (float)value;
    SC(settings)->down_fraction = (float)fmin(0.15, 1.0 - value);
}
static void set_zero_drift(void *settings, double value)
{
    SC(settings)->zero_drift = (float)value;
}
static void set_acc_bias(void *settings, double value)
{
    SC(settings)->acc_bias_mg = (float)value;
}
static void set_force_scale(void *settings, double value)
{
    ((session_settings_t *)settings)->p_scale_factor = (float)value;
}
/* Sensor noise and bias (IMU and force), on nearly level limbs (0-8 deg;
 * the sole faces any way), where the direction is hardest. */
static void set_sensor_noise(void *settings, double value)
{
    SC(settings)->noise = (float)value;
    SC(settings)->limb_incline_deg_min = 0.0f;
    SC(settings)->limb_incline_deg_max = 8.0f;
}
static void set_rate(void *settings, double value)
{
    SC(settings)->rate_hz = (float)value;
}
/* No-lift pairs under a second condition: half the strokes drawn as a
 * hard case, all of them no-lift pairs, with the condition's value. The
 * stress set draws several such conditions at once; a split that holds
 * for no-lift pairs alone may break under one of them. */
#define NO_LIFT_SHARE 0.5
#define NO_LIFT_WITH(name, condition)                                                              \
    static void set_no_lift_##name(void *settings, double value)                                   \
    {                                                                                              \
        set_hard_share(settings, NO_LIFT_SHARE);                                                   \
        condition(settings, value);                                                                \
    }
NO_LIFT_WITH(incline, set_incline)
NO_LIFT_WITH(tilt, set_tilt)
NO_LIFT_WITH(speed, set_speed)
NO_LIFT_WITH(length, set_length)
NO_LIFT_WITH(force, set_force)
NO_LIFT_WITH(zero_drift, set_zero_drift)
NO_LIFT_WITH(noise, set_sensor_noise)
#undef NO_LIFT_WITH
#undef SC

/* Each condition swept across a range wider than the development world's
 * (sim_scraper_default; docs/SIMULATOR.md). */
static const score_condition_t map_conditions[] = {
    {"limb_incline", "deg", 0, set_incline, 8, {0, 3, 6, 10, 15, 30, 60, 90}},
    {"tool_tilt", "deg", 0, set_tilt, 5, {0, 15, 30, 45, 60}},
    {"speed", "m/s", 0, set_speed, 7, {0.03, 0.06, 0.1, 0.2, 0.4, 0.8, 1.2}},
    {"length", "m", 0, set_length, 6, {0.02, 0.04, 0.08, 0.15, 0.3, 0.5}},
    {"force", "N", 0, set_force, 7, {1.5, 3, 6, 12, 25, 50, 80}},
    {"hesitant", "share", SIM_SCRAPER_HESITANT, set_hard_share, 4, {0, 0.25, 0.5, 1}},
    {"no_lift", "share", SIM_SCRAPER_NO_LIFT, set_hard_share, 4, {0, 0.25, 0.5, 1}},
    {"across_limb", "share", 0, set_across, 4, {0, 0.2, 0.5, 0.8}},
    {"zero_drift", "x typical", 0, set_zero_drift, 5, {0, 1, 2, 4, 8}},
    {"force_scale", "x 1 mN/LSB", 0, set_force_scale, 5, {0.1, 1, 5, 20, 50}},
    {"acc_bias", "mg", 0, set_acc_bias, 5, {5, 10, 20, 40, 80}},
    {"rate", "Hz", 0, set_rate, 4, {250, 400, 500, 1000}},
    {"sensor_noise", "x typical", 0, set_sensor_noise, 5, {0.5, 1, 2, 4, 8}},
    {"no_lift_incline", "deg", SIM_SCRAPER_NO_LIFT, set_no_lift_incline, 5, {0, 3, 6, 10, 30}},
    {"no_lift_tilt", "deg", SIM_SCRAPER_NO_LIFT, set_no_lift_tilt, 4, {0, 30, 45, 60}},
    {"no_lift_speed",
     "m/s",
     SIM_SCRAPER_NO_LIFT,
     set_no_lift_speed,
     6,
     {0.03, 0.06, 0.1, 0.4, 0.8, 1.2}},
    {"no_lift_length",
     "m",
     SIM_SCRAPER_NO_LIFT,
     set_no_lift_length,
     5,
     {0.02, 0.04, 0.15, 0.3, 0.5}},
    {"no_lift_force", "N", SIM_SCRAPER_NO_LIFT, set_no_lift_force, 5, {2.5, 6, 25, 50, 80}},
    {"no_lift_zero_drift",
     "x typical",
     SIM_SCRAPER_NO_LIFT,
     set_no_lift_zero_drift,
     4,
     {1, 2, 4, 8}},
    {"no_lift_noise", "x typical", SIM_SCRAPER_NO_LIFT, set_no_lift_noise, 4, {1, 2, 4, 8}},
    SCORE_MAP_LINK_CONDITIONS,
};
#define N_MAP (sizeof map_conditions / sizeof map_conditions[0])

/* A map bin's tally, and whether its sessions are listed (--verbose). */
typedef struct {
    totals_t tot;
    bool verbose;
} map_tally_t;

static int map_session(const session_settings_t *s, void *ctx)
{
    map_tally_t *m = ctx;
    return run_scored(s, &m->tot, m->verbose);
}

static void map_bin(const score_condition_t *c, double value, int n_seeds, FILE *csv, void *ctx)
{
    (void)n_seeds;
    totals_t *tot = &((map_tally_t *)ctx)->tot;
    double f1 = tot->tp ? 2.0 * (double)tot->tp / (double)(2 * tot->tp + tot->fp + tot->fn) : 0.0;
    double exact = (double)tot->exact / (double)tot->sessions;
    double dir = tot->tp ? (double)tot->dir_ok / (double)tot->tp : 0;
    double len = score_values_quantile(&tot->length, 0.5);
    double peak = score_values_quantile(&tot->peak, 0.5);
    double lat = score_values_quantile(&tot->latency, 0.99);
    printf("| %g | %.4f | %.2f | %.4f | %.3f | %.3f | %.0f |\n", value, f1, exact, dir, len, peak,
           1e3 * lat);
    if (csv) {
        score_map_csv_row(csv, "scraper", c, value, "stroke_f1", f1);
        score_map_csv_row(csv, "scraper", c, value, "count_exact", exact);
        score_map_csv_row(csv, "scraper", c, value, "direction_right", dir);
        score_map_csv_row(csv, "scraper", c, value, "length_err", len);
        score_map_csv_row(csv, "scraper", c, value, "peak_force_err", peak);
    }
    totals_free(tot);
    memset(tot, 0, sizeof *tot);
}

/* The map table's columns after the value. */
#define MAP_COLUMNS                                                                                \
    "F1 | count exact | direction right | length err median | peak force err median | delay p99 "  \
    "(ms)"

int main(int argc, char **argv)
{
    unsigned long long seed_lo = 1, seed_hi = 20;
    double duration = 240.0;
    bool check = false, verbose = false, stress = false;
    int hard = SIM_SCRAPER_HARD_ALL;
    score_map_options_t map = {.n_seeds = 6};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
            if (sscanf(argv[++i], "%llu-%llu", &seed_lo, &seed_hi) != 2)
                seed_hi = seed_lo = strtoull(argv[i], NULL, 10);
        } else if (strcmp(argv[i], "--duration") == 0 && i + 1 < argc) {
            duration = atof(argv[++i]);
        } else if (strcmp(argv[i], "--hard") == 0 && i + 1 < argc) {
            if (sim_scraper_hard_cases_parse(argv[++i], &hard) != 0) {
                fprintf(stderr, "unknown hard case list %s\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--check") == 0) {
            check = true;
        } else if (strcmp(argv[i], "--verbose") == 0) {
            verbose = true;
        } else if (strcmp(argv[i], "--stress") == 0) {
            stress = true;
        } else if (!score_map_option(&map, argc, argv, &i)) {
            fprintf(stderr,
                    "usage: %s [--seeds A-B] [--duration S] [--hard LIST] [--stress] [--check] "
                    "[--verbose]\n" SCORE_MAP_USAGE,
                    argv[0], argv[0]);
            return 2;
        }
    }
    if (score_map_resolve(&map, map_conditions, N_MAP) != 0)
        return 2;
    if (map.condition) {
        map_tally_t bin;
        memset(&bin, 0, sizeof bin);
        bin.verbose = verbose;
        return score_map_run("massaged-score-scraper", DEVICE_KIND_SCRAPER, MAP_COLUMNS,
                             map_conditions, N_MAP, &map, duration, map_session, map_bin, &bin);
    }
    if (seed_hi < seed_lo || duration <= 0.0) {
        fprintf(stderr, "bad seeds or duration\n");
        return 2;
    }

    totals_t tot;
    memset(&tot, 0, sizeof tot);
    for (unsigned long long seed = seed_lo; seed <= seed_hi; seed++) {
        session_settings_t ss;
        if (stress)
            stress_scenario(seed, duration, hard, &ss);
        else
            scenario(seed, duration, hard, &ss);
        score_map_link(&map, &ss);
        if (run_scored(&ss, &tot, verbose) != 0)
            return 2;
    }

    double precision = tot.tp + tot.fp ? (double)tot.tp / (double)(tot.tp + tot.fp) : 0;
    double recall = tot.tp + tot.fn ? (double)tot.tp / (double)(tot.tp + tot.fn) : 0;
    double f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
    double exact = (double)tot.exact / (double)tot.sessions;
    double dir = tot.tp ? (double)tot.dir_ok / (double)tot.tp : 0;
    double onset_bias = score_values_quantile(&tot.onset, 0.5),
           offset_bias = score_values_quantile(&tot.offset, 0.5);
    series_abs(&tot.onset);
    series_abs(&tot.offset);
    double len_med = score_values_quantile(&tot.length, 0.5),
           len_p90 = score_values_quantile(&tot.length, 0.9);
    double peak_med = score_values_quantile(&tot.peak, 0.5),
           peak_p90 = score_values_quantile(&tot.peak, 0.9);
    double lat_med = score_values_quantile(&tot.latency, 0.5),
           lat_p99 = score_values_quantile(&tot.latency, 0.99);
    double lat_max = score_values_quantile(&tot.latency, 1.0);

    printf("%sseeds %llu-%llu, %.0f s each, %llu sessions, %llu true strokes",
           stress ? "stress " : "", seed_lo, seed_hi, duration, (unsigned long long)tot.sessions,
           (unsigned long long)(tot.tp + tot.fn));
    score_map_print_link(&map, ", ");
    printf("\n");
    printf("| metric | value | floor |\n|---|---|---|\n");
    printf("| precision | %.4f | |\n", precision);
    printf("| recall | %.4f | |\n", recall);
    printf("| F1 | %.4f | %.3f |\n", f1, FLOOR_F1);
    printf("| exact stroke count (sessions) | %.3f | %.2f |\n", exact, FLOOR_EXACT);
    printf("| direction right | %.4f | %.2f |\n", dir, FLOOR_DIR);
    printf("| onset error median / p90 (signed median) | %.0f / %.0f ms (%+.0f ms) | |\n",
           1e3 * score_values_quantile(&tot.onset, 0.5),
           1e3 * score_values_quantile(&tot.onset, 0.9), 1e3 * onset_bias);
    printf("| offset error median / p90 (signed median) | %.0f / %.0f ms (%+.0f ms) | |\n",
           1e3 * score_values_quantile(&tot.offset, 0.5),
           1e3 * score_values_quantile(&tot.offset, 0.9), 1e3 * offset_bias);
    printf("| length relative error median / p90 | %.3f / %.3f | %.2f (median) |\n", len_med,
           len_p90, FLOOR_LEN_MED);
    printf("| peak force relative error median / p90 | %.3f / %.3f | %.2f (median) |\n", peak_med,
           peak_p90, FLOOR_PEAK_MED);
    printf("| mean force relative error median / p90 | %.3f / %.3f | |\n",
           score_values_quantile(&tot.mean_force, 0.5),
           score_values_quantile(&tot.mean_force, 0.9));
    printf("| mean speed relative error median / p90 | %.3f / %.3f | |\n",
           score_values_quantile(&tot.speed, 0.5), score_values_quantile(&tot.speed, 0.9));
    printf("| publication delay after the true end median / p99 / max | %.0f / %.0f / %.0f ms | "
           "%.0f (p99) |\n",
           1e3 * lat_med, 1e3 * lat_p99, 1e3 * lat_max, 1e3 * FLOOR_DELAY_P99);
    static const char *kinds[] = {"ordinary", "hesitant", "no_lift", "?", "short", "?",
                                  "?",        "?",        "noisy",   "?", "?",     "?",
                                  "?",        "?",        "?",       "?", "fast"};
    printf("misses by kind:");
    for (int k = 0; k <= 16; k++)
        if (tot.truth_by_kind[k])
            printf(" %s %llu/%llu", kinds[k], (unsigned long long)tot.fn_by_kind[k],
                   (unsigned long long)tot.truth_by_kind[k]);
    printf("\n");

    int rc = 0;
    if (check) {
        bool ok = f1 >= FLOOR_F1 && exact >= FLOOR_EXACT && dir >= FLOOR_DIR &&
                  len_med <= FLOOR_LEN_MED && peak_med <= FLOOR_PEAK_MED &&
                  lat_p99 <= FLOOR_DELAY_P99;
        printf("check: %s\n", ok ? "PASS" : "FAIL");
        rc = ok ? 0 : 1;
    }
    totals_free(&tot);
    return rc;
}

/* test_sim_ball: the massage-ball simulation is deterministic, physically
 * plausible and its truth is consistent with its own signals.
 *
 * Usage: test_sim_ball [seed]   (the seed is printed; pass it to re-run) */
#include "check.h"
#include "sim_ball.h"

#include <errno.h>
#include <time.h>

#define PI 3.14159265358979323846
#define MAX_TRUTH 8192
#define STRIDE (sizeof(sample_t) / sizeof(float))

typedef struct {
    const char *type;
    event_phase_t phase;
    double t0, t1;
    int n_fields;
    event_field_t fields[EVENT_MAX_FIELDS];
} truth_t;

typedef struct {
    sim_ball_settings_t set;
    sample_t *x;
    size_t n;
    truth_t truth[MAX_TRUTH];
    int n_truth;
    int downs, ups, ends;
    size_t down_at[MAX_TRUTH];
    uint64_t hash;
} run_t;

static double field(const truth_t *t, const char *name)
{
    for (int i = 0; i < t->n_fields; i++)
        if (strcmp(t->fields[i].name, name) == 0)
            return t->fields[i].value;
    return NAN;
}

static void hash_bytes(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        *h = (*h ^ b[i]) * 0x100000001b3ULL;
}

static void collect(const event_t *e, void *ctx)
{
    run_t *r = ctx;
    CHECK(r->n_truth < MAX_TRUTH);
    if (r->n_truth >= MAX_TRUTH)
        return;
    truth_t *t = &r->truth[r->n_truth++];
    t->type = e->type;
    t->phase = e->phase;
    t->t0 = e->phase == EVENT_END ? e->t_start_dev : e->t_dev;
    t->t1 = e->t_dev;
    t->n_fields = e->n_fields;
    memcpy(t->fields, e->fields, sizeof e->fields);
    hash_bytes(&r->hash, e->type, strlen(e->type));
    hash_bytes(&r->hash, &e->t_dev, sizeof e->t_dev);
    hash_bytes(&r->hash, &e->t_start_dev, sizeof e->t_start_dev);
    for (int i = 0; i < e->n_fields; i++)
        hash_bytes(&r->hash, &e->fields[i].value, sizeof(double));
}

/* Runs a whole session, keeping every sample. */
static void run(run_t *r, const sim_ball_settings_t *set, uint64_t seed)
{
    sim_ball_t *s = malloc(sizeof *s);
    memset(r, 0, sizeof *r);
    r->set = *set;
    r->hash = 0xcbf29ce484222325ULL;
    size_t cap = (size_t)(set->duration_s * set->rate_hz) + 1;
    r->x = malloc(cap * sizeof *r->x);
    CHECK_EQ_INT(sim_ball_init(s, set, seed), 0);
    for (;;) {
        CHECK(r->n < cap);
        if (r->n >= cap)
            break;
        sample_t *x = &r->x[r->n];
        int bits = sim_ball_step(s, x, collect, r);
        hash_bytes(&r->hash, x, sizeof *x);
        if (bits & SIM_BALL_BUTTON_DOWN)
            r->down_at[r->downs++ % MAX_TRUTH] = r->n;
        if (bits & SIM_BALL_BUTTON_UP)
            r->ups++;
        r->n++;
        if (bits & SIM_BALL_END) {
            r->ends++;
            break;
        }
    }
    free(s);
}

static size_t idx(const run_t *r, double t)
{
    double i = floor(t * r->set.rate_hz + 0.5);
    if (i < 0)
        return 0;
    return i >= (double)r->n ? r->n - 1 : (size_t)i;
}

/* Low sidelobes (-92 dB), so a large slow signal (rocking, a flex's rise)
 * does not leak into the MMG band of a 1 s window. */
static double blackman_harris(size_t i, size_t n)
{
    double x = 2.0 * PI * i / (n - 1);
    return 0.35875 - 0.48829 * cos(x) + 0.14128 * cos(2 * x) - 0.01168 * cos(3 * x);
}

/* Mean square of x[i0..i1) (one field of the samples, linearly detrended,
 * Blackman-Harris window) carried by the DFT bins in [f_lo, f_hi] Hz; each
 * bin's share goes to bins[] if given (at most 512). */
static double band_ms(const run_t *r, const float *x, size_t i0, size_t i1, double f_lo,
                      double f_hi, double *bins)
{
    static double y[8192];
    size_t n = i1 - i0;
    double fs = r->set.rate_hz, sx = 0, sxx = 0, sy = 0, sxy = 0, wsum = 0;
    CHECK(n <= 8192);
    if (n > 8192)
        return NAN;
    for (size_t i = 0; i < n; i++) {
        double v = x[(i0 + i) * STRIDE];
        sx += i, sxx += (double)i * i, sy += v, sxy += i * v;
    }
    double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx), icpt = (sy - slope * sx) / n;
    for (size_t i = 0; i < n; i++) {
        double w = blackman_harris(i, n);
        y[i] = (x[(i0 + i) * STRIDE] - icpt - slope * i) * w;
        wsum += w * w;
    }
    double total = 0.0;
    int k_lo = (int)ceil(f_lo * n / fs), k_hi = (int)floor(f_hi * n / fs);
    for (int k = k_lo, b = 0; k <= k_hi && b < 512; k++, b++) {
        /* A rotating phasor instead of cos/sin per sample. */
        double re = 0, im = 0, w = 2.0 * PI * k / n, c = cos(w), s = sin(w), pr = 1, pi = 0;
        for (size_t i = 0; i < n; i++) {
            re += y[i] * pr;
            im -= y[i] * pi;
            double tmp = pr * c - pi * s;
            pi = pr * s + pi * c;
            pr = tmp;
        }
        double ms = 2.0 * (re * re + im * im) / (n * wsum); /* one-sided */
        if (bins)
            bins[b] = ms;
        total += ms;
    }
    return total;
}

static int inside(const run_t *r, const char *type, double t0, double t1)
{
    for (int i = 0; i < r->n_truth; i++)
        if (strcmp(r->truth[i].type, type) == 0 && r->truth[i].t0 <= t0 + 1e-9 &&
            t1 <= r->truth[i].t1 + 1e-9)
            return 1;
    return 0;
}

/* Is [t0, t1] at least `margin` seconds away from every interval of type? */
static int clear_of(const run_t *r, const char *type, double t0, double t1, double margin)
{
    for (int i = 0; i < r->n_truth; i++)
        if (strcmp(r->truth[i].type, type) == 0 && r->truth[i].t0 < t1 + margin &&
            t0 < r->truth[i].t1 + margin)
            return 0;
    return 1;
}

static double mean_p(const run_t *r, double t0, double t1)
{
    double sum = 0;
    size_t a = idx(r, t0), b = idx(r, t1);
    for (size_t i = a; i < b; i++)
        sum += r->x[i].p;
    return sum / (double)(b - a);
}

static double mean_norm(const run_t *r, int gyro, double t0, double t1)
{
    double sum = 0;
    size_t a = idx(r, t0), b = idx(r, t1);
    for (size_t i = a; i < b; i++) {
        const float *v = gyro ? r->x[i].gyr : r->x[i].acc;
        sum += sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    }
    return sum / (double)(b - a);
}

/* ---- checks ---- */

static void check_settings(void)
{
    sim_ball_t *s = malloc(sizeof *s);
    sim_ball_settings_t set = sim_ball_default;
    CHECK_EQ_INT(sim_ball_init(s, &set, 1), 0);
    set.rate_hz = 50;
    CHECK_EQ_INT(sim_ball_init(s, &set, 1), -EINVAL);
    set = sim_ball_default;
    set.duration_s = -1;
    CHECK_EQ_INT(sim_ball_init(s, &set, 1), -EINVAL);
    set = sim_ball_default;
    set.mark_probability = 1.5f;
    CHECK_EQ_INT(sim_ball_init(s, &set, 1), -EINVAL);
    int flags = -1;
    CHECK_EQ_INT(sim_ball_hard_cases_parse("breathing,tremor,rock_no_flex", &flags), 0);
    CHECK_EQ_INT(flags, SIM_BALL_BREATHING | SIM_BALL_TREMOR | SIM_BALL_ROCK_NO_FLEX);
    CHECK_EQ_INT(sim_ball_hard_cases_parse("all", &flags), 0);
    CHECK_EQ_INT(flags, SIM_BALL_HARD_ALL);
    CHECK_EQ_INT(sim_ball_hard_cases_parse("", &flags), 0);
    CHECK_EQ_INT(flags, 0);
    CHECK_EQ_INT(sim_ball_hard_cases_parse("sway,bogus", &flags), -EINVAL);
    free(s);
}

static void check_determinism(uint64_t seed)
{
    sim_ball_settings_t set = sim_ball_default;
    set.duration_s = 120;
    set.hard_cases = SIM_BALL_HARD_ALL;
    run_t *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    run(a, &set, seed);
    run(b, &set, seed);
    CHECK(a->hash == b->hash);
    CHECK_EQ_INT(a->n, b->n);
    CHECK(a->n == b->n && memcmp(a->x, b->x, a->n * sizeof a->x[0]) == 0);
    CHECK_EQ_INT(a->n_truth, b->n_truth);
    free(b->x);
    run(b, &set, seed + 1);
    CHECK(a->hash != b->hash);
    free(a->x);
    free(b->x);
    free(a);
    free(b);
}

/* Session end: exactly duration * rate samples, truth closed at duration,
 * nothing after; endless sessions close at finish. */
static void check_end(uint64_t seed)
{
    sim_ball_settings_t set = sim_ball_default;
    set.duration_s = 47.5;
    run_t *r = malloc(sizeof *r);
    run(r, &set, seed);
    CHECK_EQ_INT(r->n, 47500);
    CHECK_EQ_INT(r->ends, 1);
    int open_at_end = 0;
    for (int i = 0; i < r->n_truth; i++) {
        CHECK(r->truth[i].t1 <= 47.5 + 1e-9);
        open_at_end += fabs(r->truth[i].t1 - 47.5) < 1e-9;
    }
    CHECK(r->n_truth >= 1);
    (void)open_at_end;
    CHECK_NEAR(r->x[r->n - 1].t_dev, 47.499, 1e-9);

    sim_ball_t *s = malloc(sizeof *s);
    sample_t x;
    int before = r->n_truth;
    CHECK_EQ_INT(sim_ball_init(s, &set, seed), 0);
    for (int i = 0; i < 47500; i++)
        sim_ball_step(s, &x, NULL, NULL);
    int bits = sim_ball_step(s, &x, collect, r);
    CHECK(bits & SIM_BALL_END);
    CHECK_NEAR(x.t_dev, 47.5, 1e-9);
    sim_ball_finish(s, collect, r);
    CHECK_EQ_INT(r->n_truth, before);

    set.duration_s = 0; /* endless */
    CHECK_EQ_INT(sim_ball_init(s, &set, seed), 0);
    int ended = 0;
    /* Stop 100 s in or later, once a hold is under way (peeking at the
     * state), so finish() has something to close. */
    for (int i = 0;
         i < 400000 && (i < 100000 || s->hold_open == UINT64_MAX || s->hold_open >= s->run.n); i++)
        ended |= sim_ball_step(s, &x, NULL, NULL) & SIM_BALL_END;
    CHECK(!ended);
    double stop = s->run.n / (double)set.rate_hz;
    r->n_truth = 0;
    sim_ball_finish(s, collect, r);
    CHECK(r->n_truth >= 1);
    int holds = 0;
    for (int i = 0; i < r->n_truth; i++) {
        CHECK_NEAR(r->truth[i].t1, stop, 1e-9);
        holds += strcmp(r->truth[i].type, "hold") == 0;
    }
    CHECK_EQ_INT(holds, 1);
    int n = r->n_truth;
    sim_ball_finish(s, collect, r);
    CHECK_EQ_INT(r->n_truth, n);
    free(s);
    free(r->x);
    free(r);
}

/* Truth intervals: ordered, non-overlapping per type, flexes and rocks
 * inside holds and apart from each other, rolls apart from holds. */
static void check_structure(const run_t *r, int hard)
{
    const char *types[] = {"roll", "hold", "flex", "rock"};
    int count[4] = {0};
    double end = r->n / r->set.rate_hz;
    for (int k = 0; k < 4; k++) {
        double last_end = -1.0;
        for (int i = 0; i < r->n_truth; i++) {
            const truth_t *t = &r->truth[i];
            if (strcmp(t->type, types[k]) != 0)
                continue;
            count[k]++;
            CHECK_EQ_INT(t->phase, EVENT_END);
            CHECK(t->t0 < t->t1);
            CHECK(t->t0 >= last_end - 1e-9);
            last_end = t->t1;
            if (k == 1 && t->t1 < end - 1e-9) { /* holds not cut by the end */
                CHECK(t->t1 - t->t0 >= 10.0 - 1e-9);
                CHECK(t->t1 - t->t0 <= 60.0 + 1e-9);
            }
            if (k == 0)
                CHECK(clear_of(r, "hold", t->t0 + 1e-6, t->t1 - 1e-6, 0));
            if (k >= 2)
                CHECK(inside(r, "hold", t->t0, t->t1));
            if (k == 2) {
                CHECK(clear_of(r, "rock", t->t0 + 1e-6, t->t1 - 1e-6, 0));
                double len = t->t1 - t->t0;
                int cut = t->t1 >= end - 1e-9; /* cut short by the session's end */
                CHECK((len >= 0.45 || cut) && len <= 8.75);
                if (!(hard & SIM_BALL_PARTIAL_FLEX))
                    CHECK(len >= 2.2 || cut);
                if (!(len >= 0.45 || cut) || len > 8.75)
                    fprintf(stderr, "  flex %.3f-%.3f\n", t->t0, t->t1);
            }
        }
    }
    int marks = 0;
    for (int i = 0; i < r->n_truth; i++)
        if (strcmp(r->truth[i].type, "mark") == 0) {
            CHECK_EQ_INT(r->truth[i].phase, EVENT_INSTANT);
            CHECK(marks < r->downs && idx(r, r->truth[i].t1) == r->down_at[marks]);
            marks++;
        }
    CHECK_EQ_INT(marks, r->downs);
    CHECK(r->ups == r->downs || r->ups == r->downs - 1);
    fprintf(stderr, "  %.0f s: %d rolls, %d holds, %d flexes, %d rocks, %d marks\n", end, count[0],
            count[1], count[2], count[3], marks);
    CHECK(count[1] >= end / 100 && count[1] <= end / 15);
    CHECK(count[0] >= end / 100);
    if (!(hard & SIM_BALL_ROCK_NO_FLEX))
        CHECK(count[2] >= 2 * (count[1] - 1));
    CHECK(marks >= 1);
}

/* Units and ranges; gravity; the gyroscope in rolls and holds. */
static void check_physics(const run_t *r, int hard)
{
    double amb = r->set.ambient_pa, end = r->n / r->set.rate_hz;
    int idle_windows = 0, rest_windows = 0;
    for (double t = 1.0; t + 1.0 < end; t += 0.5) {
        if (clear_of(r, "roll", t, t + 0.5, 2.0) && clear_of(r, "hold", t, t + 0.5, 2.0)) {
            /* Unloaded: ambient plus a little inflation, warmth and weather. */
            double p = mean_p(r, t, t + 0.5);
            if (!(hard & SIM_BALL_HANDLING)) {          /* a squeezing hand raises p */
                CHECK(p > amb - 300 && p < amb + 3000); /* + creep recovering after unloading */
                CHECK_NEAR(mean_norm(r, 0, t, t + 0.5), 1.0, 0.05);
                CHECK(mean_norm(r, 1, t, t + 0.5) < 3.0);
            }
            idle_windows++;
        }
        if (inside(r, "hold", t - 1.0, t + 1.5) && clear_of(r, "flex", t, t + 0.5, 1.0) &&
            clear_of(r, "rock", t, t + 0.5, 1.0)) {
            double rise = mean_p(r, t, t + 0.5) - amb;
            CHECK(rise > 2500 && rise < 50000);
            CHECK_NEAR(mean_norm(r, 0, t, t + 0.5), 1.0, 0.06);
            if (!(hard & SIM_BALL_SWAY))
                CHECK(mean_norm(r, 1, t, t + 0.5) < 4.0);
            rest_windows++;
        }
    }
    CHECK(idle_windows > 4 && rest_windows > 100);
    for (int i = 0; i < r->n_truth; i++) {
        const truth_t *t = &r->truth[i];
        if (strcmp(t->type, "roll") == 0 && t->t1 < end - 1e-9) { /* not cut by the end */
            double w = mean_norm(r, 1, t->t0, t->t1);
            CHECK(w > 15.0 && w < 250.0);
            if (!(w > 15.0 && w < 250.0))
                fprintf(stderr, "  roll %.3f-%.3f: %.1f deg/s\n", t->t0, t->t1, w);
            CHECK(mean_p(r, t->t0, t->t1) - amb > 2500);
        }
    }
}

/* Flex: MMG in 5-50 Hz of pressure and acceleration, the truth rise, and
 * the release trend; rock: gyro at the truth frequency and amplitude, no
 * MMG-band energy. */
static void check_spectra(const run_t *r, int hard)
{
    int flexes = 0, rocks = 0, releases = 0;
    double ratio_min = 1e9, median_err = 0.0, median_bias = 0.0, rise_err_max = 0.0,
           end = r->n / r->set.rate_hz;
    double p_rms_sum = 0, a_rms_sum = 0, p_rms_min = 1e9, p_rms_max = 0;
    for (int i = 0; i < r->n_truth; i++) {
        const truth_t *t = &r->truth[i];
        if (strcmp(t->type, "flex") == 0 && field(t, "weak") == 0 && t->t1 - t->t0 > 2.2 &&
            t->t1 < end - 1e-9) {
            /* 1 s of plateau (the up ramp is at most 0.3 s) against 1 s of
             * the rest before it. */
            size_t f0 = idx(r, t->t0 + 0.4), f1 = idx(r, t->t0 + 1.4);
            size_t b0 = idx(r, t->t0 - 1.4), b1 = idx(r, t->t0 - 0.4);
            double bf[512], bb[512];
            double pf = band_ms(r, &r->x[0].p, f0, f1, 5, 50, bf);
            double pb = band_ms(r, &r->x[0].p, b0, b1, 5, 50, bb);
            double hf = band_ms(r, &r->x[0].p, f0, f1, 100, 200, NULL);
            double hb = band_ms(r, &r->x[0].p, b0, b1, 100, 200, NULL);
            double af = 0, ab = 0;
            for (int k = 0; k < 3; k++) {
                af += band_ms(r, &r->x[0].acc[k], f0, f1, 5, 50, NULL);
                ab += band_ms(r, &r->x[0].acc[k], b0, b1, 5, 50, NULL);
            }
            ratio_min = fmin(ratio_min, pf / pb);
            /* Noise-subtracted in-band rms against the truth's MMG rms (the
             * lateral acceleration adds 0.4^2 of the normal's power). */
            double p_rms = sqrt(fmax(0.0, pf - pb)) / field(t, "mmg_rms_pa");
            double a_rms = sqrt(fmax(0.0, af - ab)) / (0.001 * field(t, "mmg_rms_mg") * sqrt(1.16));
            p_rms_sum += p_rms, a_rms_sum += a_rms;
            p_rms_min = fmin(p_rms_min, p_rms), p_rms_max = fmax(p_rms_max, p_rms);
            CHECK(hf - hb < 0.05 * (pf - pb)); /* band-limited: little far above 50 Hz */
            /* Median frequency of the excess spectrum. */
            int nb = (int)floor(50.0 * (f1 - f0) / r->set.rate_hz) -
                     (int)ceil(5.0 * (f1 - f0) / r->set.rate_hz) + 1;
            double excess = 0, acc = 0;
            for (int b = 0; b < nb; b++)
                excess += fmax(0.0, bf[b] - bb[b]);
            for (int b = 0; b < nb; b++) {
                acc += fmax(0.0, bf[b] - bb[b]);
                if (acc >= excess / 2) {
                    /* The crossing is somewhere in bin b: take its middle. */
                    median_err += fabs(4.5 + b - field(t, "mmg_median_hz"));
                    median_bias += 4.5 + b - field(t, "mmg_median_hz");
                    break;
                }
            }
            /* The rise: plateau minus rest, against the truth field. */
            if (!(hard & (SIM_BALL_BREATHING | SIM_BALL_SWAY))) {
                double rise = mean_p(r, t->t0 + 0.4, t->t1 - 0.5) - mean_p(r, t->t0 - 1.0, t->t0);
                double err = fabs(rise / field(t, "pressure_rise_pa") - 1.0);
                rise_err_max = fmax(rise_err_max, err);
            }
            flexes++;
        }
        if (strcmp(t->type, "rock") == 0 && t->t1 - t->t0 > 3.0) {
            size_t a = idx(r, t->t0), b = idx(r, t->t1);
            /* The rocking axis is fixed in the ball: take the gyro axis with
             * most variance, and scan its spectrum. */
            int axis = 0;
            double var[3] = {0};
            for (int k = 0; k < 3; k++) {
                double m = 0;
                for (size_t j = a; j < b; j++)
                    m += r->x[j].gyr[k];
                m /= (b - a);
                for (size_t j = a; j < b; j++)
                    var[k] += (r->x[j].gyr[k] - m) * (r->x[j].gyr[k] - m);
                if (var[k] > var[axis])
                    axis = k;
            }
            double best = 0, best_f = 0;
            for (double f = 0.2; f <= 4.0; f += 0.005) {
                double re = 0, im = 0, w = 2.0 * PI * f * 10 / r->set.rate_hz;
                double c = cos(w), s = sin(w), pr = 1, pi = 0;
                for (size_t j = a; j < b; j += 10) {
                    re += r->x[j].gyr[axis] * pr;
                    im += r->x[j].gyr[axis] * pi;
                    double tmp = pr * c - pi * s;
                    pi = pr * s + pi * c;
                    pr = tmp;
                }
                if (re * re + im * im > best)
                    best = re * re + im * im, best_f = f;
            }
            double f_true = field(t, "freq_hz");
            /* Within 5 %, or the resolution of a short rock's spectrum. */
            CHECK_NEAR(best_f, f_true, fmax(0.05 * f_true, 0.4 / (t->t1 - t->t0)));
            /* Amplitude: rms of the rotation rate = A * 2 pi f / sqrt 2 on
             * the plateau; the whole interval includes the ramps. */
            double rms = sqrt(var[0] + var[1] + var[2]) / sqrt((double)(b - a));
            double amp = rms * sqrt(2.0) / (2.0 * PI * f_true);
            CHECK_NEAR(amp / field(t, "amplitude_deg"), 1.0, 0.25);
            /* No MMG-band energy beyond the rest's; from 10 Hz, since the ball's
             * nonlinear compliance gives fast rocking a real 2f harmonic. */
            size_t m0 = idx(r, 0.5 * (t->t0 + t->t1) - 0.5), m1 = m0 + idx(r, 1.0);
            double pr = band_ms(r, &r->x[0].p, m0, m1, 10, 50, NULL);
            double pb =
                band_ms(r, &r->x[0].p, idx(r, t->t0 - 1.4), idx(r, t->t0 - 0.4), 10, 50, NULL);
            CHECK(pr < 3.0 * pb);
            if (!(pr < 3.0 * pb))
                fprintf(stderr,
                        "  rock %.3f-%.3f at %.2f Hz, %.1f deg: band ms %.1f vs rest %.1f\n", t->t0,
                        t->t1, f_true, field(t, "amplitude_deg"), pr, pb);
            rocks++;
        }
        if (strcmp(t->type, "hold") == 0 && field(t, "flexes") >= 2 &&
            !(hard & SIM_BALL_WEIGHT_SHIFT)) {
            double rel = field(t, "release_pa");
            CHECK(rel > 0);
            CHECK(field(t, "last_rise_pa") < field(t, "first_rise_pa"));
            releases++;
        }
    }
    if (flexes) {
        fprintf(stderr,
                "  %d flexes: MMG band power vs rest >= %.1f; in-band rms / truth: pressure "
                "%.2f (%.2f..%.2f), acc %.2f; median freq error %.1f Hz (bias %+.1f); rise error "
                "<= %.0f %%\n",
                flexes, ratio_min, p_rms_sum / flexes, p_rms_min, p_rms_max, a_rms_sum / flexes,
                median_err / flexes, median_bias / flexes, 100 * rise_err_max);
        CHECK(ratio_min > 5.0);
        CHECK(p_rms_min > 0.45 && p_rms_max < 1.8); /* 1 s estimates scatter */
        CHECK_NEAR(p_rms_sum / flexes, 0.95, 0.15);
        CHECK_NEAR(a_rms_sum / flexes, 0.95, 0.25);
        CHECK(median_err / flexes < 4.0);                        /* 1 Hz bins, 1 s of noise */
        CHECK(fabs(median_bias / flexes) < 10.0 / sqrt(flexes)); /* ~4 sigma */
        if (!(hard & (SIM_BALL_BREATHING | SIM_BALL_SWAY)))
            CHECK(rise_err_max < 0.3);
    }
    fprintf(stderr, "  %d rocks checked, %d holds with a release trend\n", rocks, releases);
    CHECK(flexes > 5);
}

/* With ideal sensors, the gyroscope and the gravity vector agree: turning
 * the acceleration at a roll's start by the integrated gyro gives the
 * acceleration at its end (both moments are still). */
/* A flex's force and MMG build in the world's shape: a quarter and three
 * quarters of the way through each flex's rise, the MMG's envelope is
 * where that shape puts it (the robustness map's flex_shape). */
static void check_flex_shape(uint64_t seed)
{
    static const double expect[][2] = {
        [SIM_FLEX_SMOOTH] = {0.1464466, 0.8535534},
        [SIM_FLEX_LINEAR] = {0.25, 0.75},
        [SIM_FLEX_FIRST_ORDER] = {0.6439087, 0.9685049},
        [SIM_FLEX_SLOW_START] = {0.015625, 0.421875},
    };
    sim_ball_t *s = malloc(sizeof *s);
    run_t *r = malloc(sizeof *r);
    for (int shape = SIM_FLEX_SMOOTH; shape <= SIM_FLEX_SLOW_START; shape++) {
        sim_ball_settings_t set = sim_ball_default;
        set.duration_s = 120;
        set.noise = 0;
        set.world.flex_shape = shape;
        set.world.flex_up_s.lo = set.world.flex_up_s.hi = 0.4;
        size_t cap = (size_t)(set.duration_s * set.rate_hz) + 1, n = 0;
        float *env = malloc(cap * sizeof *env);
        memset(r, 0, sizeof *r);
        r->set = set;
        CHECK_EQ_INT(sim_ball_init(s, &set, seed), 0);
        sample_t x;
        while (n < cap) {
            int bits = sim_ball_step(s, &x, collect, r);
            env[n++] = s->mmg_level;
            if (bits & SIM_BALL_END)
                break;
        }
        r->n = n;
        int flexes = 0;
        for (int i = 0; i < r->n_truth; i++) {
            const truth_t *t = &r->truth[i];
            double up = field(t, "up_s");
            if (strcmp(t->type, "flex") != 0 || field(t, "partial") == 1.0 || !(up > 0.0) ||
                t->t1 - t->t0 < 2.0 * up)
                continue;
            for (int q = 0; q < 2; q++) {
                double got = env[idx(r, t->t0 + (0.25 + 0.5 * q) * up)];
                CHECK_NEAR(got, expect[shape][q], 0.02);
            }
            flexes++;
        }
        CHECK(flexes >= 3);
        free(env);
    }
    sim_ball_settings_t bad = sim_ball_default;
    bad.world.flex_shape = SIM_FLEX_SLOW_START + 1;
    CHECK_EQ_INT(sim_ball_init(s, &bad, seed), -EINVAL);
    free(r);
    free(s);
}

static void check_rotation(uint64_t seed)
{
    sim_ball_settings_t set = sim_ball_default;
    set.duration_s = 300;
    set.noise = 0;
    run_t *r = malloc(sizeof *r);
    run(r, &set, seed);
    int rolls = 0;
    double worst = 0;
    for (int i = 0; i < r->n_truth; i++) {
        const truth_t *t = &r->truth[i];
        if (strcmp(t->type, "roll") != 0 || t->t1 >= set.duration_s - 1e-9)
            continue; /* a roll cut by the end stops mid-stroke, not still */
        size_t a = idx(r, t->t0), b = idx(r, t->t1);
        double v[3] = {r->x[a].acc[0], r->x[a].acc[1], r->x[a].acc[2]};
        double dt = 1.0 / set.rate_hz;
        for (size_t j = a; j < b; j++) {
            /* A world-fixed vector seen from the turning ball turns by -w dt
             * (Rodrigues, exact for the step). */
            double w[3] = {r->x[j].gyr[0] * PI / 180, r->x[j].gyr[1] * PI / 180,
                           r->x[j].gyr[2] * PI / 180};
            double wn = sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
            if (wn == 0.0)
                continue;
            double k[3] = {-w[0] / wn, -w[1] / wn, -w[2] / wn}, th = wn * dt;
            double kv = k[0] * v[0] + k[1] * v[1] + k[2] * v[2];
            double c[3] = {k[1] * v[2] - k[2] * v[1], k[2] * v[0] - k[0] * v[2],
                           k[0] * v[1] - k[1] * v[0]};
            for (int m = 0; m < 3; m++)
                v[m] = v[m] * cos(th) + c[m] * sin(th) + k[m] * kv * (1 - cos(th));
        }
        const float *e = r->x[b].acc;
        double dot = v[0] * e[0] + v[1] * e[1] + v[2] * e[2];
        double nv = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
        double ne = sqrt(e[0] * e[0] + e[1] * e[1] + e[2] * e[2]);
        double angle = acos(fmin(1.0, dot / (nv * ne))) * 180 / PI;
        double a0 = r->x[a].acc[0], a1 = r->x[a].acc[1], a2 = r->x[a].acc[2];
        double turned = acos(fmin(1.0, (a0 * e[0] + a1 * e[1] + a2 * e[2]) / ne /
                                           sqrt(a0 * a0 + a1 * a1 + a2 * a2))) *
                        180 / PI;
        worst = fmax(worst, angle);
        CHECK(angle < 2.0);
        CHECK(ne > 0.98 && ne < 1.02);
        (void)turned;
        rolls++;
    }
    fprintf(stderr, "  %d rolls: gravity follows the integrated gyro within %.2f deg\n", rolls,
            worst);
    CHECK(rolls >= 3);
    free(r->x);
    free(r);
}

static void check_session(uint64_t seed, int hard, double duration)
{
    sim_ball_settings_t set = sim_ball_default;
    set.duration_s = duration;
    set.hard_cases = hard;
    run_t *r = malloc(sizeof *r);
    clock_t c0 = clock();
    run(r, &set, seed);
    double cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
    fprintf(stderr, "session hard=0x%02x: %.0f s simulated in %.2f s cpu (%.0fx real time)\n", hard,
            duration, cpu, duration / fmax(cpu, 1e-6));
    check_structure(r, hard);
    check_physics(r, hard);
    check_spectra(r, hard);
    free(r->x);
    free(r);
}

int main(int argc, char **argv)
{
    uint64_t seed = test_seed(argc, argv, 20240611);
    check_settings();
    check_determinism(seed);
    check_end(seed);
    check_rotation(seed);
    check_flex_shape(seed);
    check_session(seed, 0, 900);
    check_session(seed + 7, SIM_BALL_HARD_ALL & ~SIM_BALL_TREMOR, 900);
    return CHECK_DONE();
}

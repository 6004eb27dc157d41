/* Tests of the ball detectors on synthetic signals with known timing, plus
 * the score_match module. The accuracy on simulated sessions is checked by
 * the ctest entry score_ball_check (massaged-score-ball --check). */
#include "ball.h"
#include "check.h"
#include "score_match.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846
#define MAX_SEEN 64

typedef struct {
    event_t ev[MAX_SEEN];
    int n;
} seen_t;

static void sink(const event_t *e, void *ctx)
{
    seen_t *s = ctx;
    if (s->n < MAX_SEEN)
        s->ev[s->n++] = *e;
}

/* Deterministic noise: a 64-bit LCG into a sum of uniforms (about Gaussian). */
static double noise(uint64_t *state)
{
    double sum = 0.0;
    for (int i = 0; i < 4; i++) {
        *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
        sum += (double)(*state >> 11) / 9007199254740992.0 - 0.5;
    }
    return sum * 1.7320508; /* unit variance */
}

static double rc(double u) /* raised-cosine ramp 0..1 */
{
    return u <= 0 ? 0 : u >= 1 ? 1 : 0.5 - 0.5 * cos(PI * u);
}

typedef struct {
    double flex_on, flex_off; /* seconds; flex_on < 0: no flex */
    double tremor_on, tremor_off;
    double shift_at; /* seconds; a weight shift (load step of +12 %, tau 0.3 s); < 0: none */
    double sag;      /* share of the flex's rise lost linearly over its plateau (sway) */
    double rise_pa;  /* the flex's rise; 0: 4000 Pa (16 % of the load) */
    int no_mmg;      /* the flex has no vibration (a weak contraction under the noise) */
    double ramp_s;   /* the flex's contraction ramp; 0: 0.2 s */
    double noise_pa; /* the pressure sensor's noise, rms; 0: 10 Pa */
    double breath;   /* breathing: share of the load, at 0.25 Hz */
    double release_pa; /* the load released by the flex's relax, pascal, kept after it */
    double tremor;     /* the tremor's strength; 0: 1 (6 Pa and 6 mg) */
    double tremor_hz;  /* its frequency; 0: 10 Hz */
    double burst_at;   /* a 0.1 s burst of vibration across the band, no contraction; 0: none */
    double burst_pa;   /* ... its amplitude in each of the MMG's three components */
    double mmg_pa;     /* the flex's MMG in each of its three components; 0: 60 Pa */
    double wander;     /* the flex's force and MMG swing by this share at 0.8 Hz */
} script_t;

/* Unloaded 0-2 s, load ramp 2-3 s (hold starts at 2.5 s), hold to 20 s,
 * unload ramp 20-21 s (hold ends at 20.5 s), unloaded to 23 s. */
static void run(const script_t *sc, float rate, seen_t *seen)
{
    memset(seen, 0, sizeof *seen);
    size_t len = ball_mem_size(&ball_default, rate);
    void *mem = malloc(len);
    ball_t *b = malloc(sizeof *b);
    CHECK(len > 0 && mem && b);
    if (!mem || !b || ball_init(b, &ball_default, rate, mem, len) != 0) {
        CHECK(!"ball_init");
        free(mem);
        free(b);
        return;
    }
    uint64_t rng = 12345;
    uint32_t next_id = 1;
    double ph[3] = {0.3, 1.1, 2.0};
    for (long i = 0; i < (long)(23.0 * rate); i++) {
        double t = i / (double)rate;
        double load = rc(t - 2.0) * (1.0 - rc(t - 20.0)) * (1.0 + sc->breath * sin(2 * PI * 0.25 * t));
        double p = 101325.0 + 25000.0 * load + (sc->noise_pa > 0 ? sc->noise_pa : 10.0) * noise(&rng);
        if (sc->shift_at >= 0 && t >= sc->shift_at)
            p += 3000.0 * (1.0 - exp(-(t - sc->shift_at) / 0.3)) * (1.0 - rc(t - 20.0));
        double mmg = 0.0, vib = 0.0;
        if (sc->flex_on >= 0) {
            double ramp = sc->ramp_s > 0 ? sc->ramp_s : 0.2;
            double env = rc((t - sc->flex_on) / ramp) * (1.0 - rc((t - (sc->flex_off - 0.3)) / 0.3));
            env *= 1.0 + sc->wander * sin(2 * PI * 0.8 * (t - sc->flex_on));
            double u = (t - sc->flex_on) / (sc->flex_off - sc->flex_on);
            double rise = sc->rise_pa > 0 ? sc->rise_pa : 4000.0;
            p += rise * env * (1.0 - sc->sag * (u < 0 ? 0 : u > 1 ? 1 : u));
            p -= sc->release_pa * rc((t - (sc->flex_off - 0.3)) / 0.3) * (1.0 - rc(t - 20.0));
            for (int k = 0; k < 3 && !sc->no_mmg; k++)
                mmg += env * (sc->mmg_pa > 0 ? sc->mmg_pa : 60.0) *
                       sin(2 * PI * (12.0 + 5.5 * k) * t + ph[k]);
        }
        if (sc->burst_at > 0) {
            double u = (t - sc->burst_at) / 0.05;
            double env = rc(u) * (1.0 - rc(u - 1.0));
            for (int k = 0; k < 3; k++)
                mmg += env * sc->burst_pa * sin(2 * PI * (14.0 + 9.0 * k) * t + ph[k]);
        }
        if (t >= sc->tremor_on && t < sc->tremor_off) {
            double k = sc->tremor > 0 ? sc->tremor : 1.0;
            double w = 2 * PI * (sc->tremor_hz > 0 ? sc->tremor_hz : 10.0);
            vib += k * 0.006 * sin(w * t), p += k * 6.0 * sin(w * t + 0.5);
        }
        p += mmg;
        sample_t s = {.t_dev = t, .p = (float)p};
        s.acc[0] = (float)(0.003 * noise(&rng));
        s.acc[1] = (float)(0.003 * noise(&rng));
        s.acc[2] = (float)(1.0 + 0.003 * noise(&rng) + mmg * 0.09e-3 + vib);
        for (int k = 0; k < 3; k++)
            s.gyr[k] = (float)(0.2 + 0.2 * noise(&rng));
        ball_push(b, &s, &next_id, sink, seen);
    }
    ball_finish(b, &next_id, sink, seen);
    free(b);
    free(mem);
}

static int count(const seen_t *s, const char *type, event_phase_t phase)
{
    int n = 0;
    for (int i = 0; i < s->n; i++)
        n += strcmp(s->ev[i].type, type) == 0 && s->ev[i].phase == phase;
    return n;
}

static const event_t *find(const seen_t *s, const char *type, event_phase_t phase)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->ev[i].type, type) == 0 && s->ev[i].phase == phase)
            return &s->ev[i];
    return NULL;
}

static void test_hold_and_flex(float rate)
{
    printf("hold with one flex at %.0f Hz\n", rate);
    script_t sc = {
        .flex_on = 8.0, .flex_off = 11.5, .tremor_on = -1, .tremor_off = -1, .shift_at = -1};
    seen_t s;
    run(&sc, rate, &s);
    CHECK_EQ_INT(count(&s, "hold", EVENT_START), 1);
    CHECK_EQ_INT(count(&s, "hold", EVENT_END), 1);
    CHECK_EQ_INT(count(&s, "flex", EVENT_START), 1);
    CHECK_EQ_INT(count(&s, "flex", EVENT_END), 1);
    CHECK_EQ_INT(count(&s, "roll", EVENT_START), 0);
    CHECK_EQ_INT(count(&s, "rock", EVENT_START), 0);
    const event_t *hs = find(&s, "hold", EVENT_START), *he = find(&s, "hold", EVENT_END);
    const event_t *fs = find(&s, "flex", EVENT_START), *fe = find(&s, "flex", EVENT_END);
    if (!hs || !he || !fs || !fe)
        return;
    CHECK_NEAR(hs->t_dev, 2.5, 0.1);
    CHECK_NEAR(he->t_dev, 20.5, 0.1);
    CHECK_EQ_INT(hs->id, he->id);
    CHECK_EQ_INT(fs->id, fe->id);
    CHECK(fs->id != hs->id);
    CHECK_NEAR(fs->t_dev, 8.0, 0.04);
    CHECK_NEAR(event_get_field(fs, "t_decided_dev") - 8.0, 0.08, 0.07); /* published within 150 ms */
    CHECK_NEAR(fe->t_start_dev, fs->t_dev, 1e-9);
    CHECK_NEAR(fe->t_dev, 11.5, 0.15);
    CHECK_NEAR(event_get_field(fe, "pressure_rise_pa"), 4000.0, 500.0);
    CHECK_NEAR(event_get_field(fe, "median_freq_hz"), 17.5, 5.0);
    CHECK(event_get_field(fe, "band_ratio") > 10.0);
    CHECK_EQ_INT(event_get_field(he, "flex_count"), 1);
    CHECK_NEAR(event_get_field(he, "mean_flex_s"), 3.5, 0.2);
    CHECK_NEAR(event_get_field(he, "time_under_load_s"), 18.0, 0.1);
}

static void test_tremor_is_not_a_flex(void)
{
    printf("tremor without a load rise\n");
    script_t sc = {
        .flex_on = -1, .flex_off = -1, .tremor_on = 6.0, .tremor_off = 14.0, .shift_at = -1};
    seen_t s;
    run(&sc, 1000.0f, &s);
    CHECK_EQ_INT(count(&s, "hold", EVENT_START), 1);
    CHECK_EQ_INT(count(&s, "flex", EVENT_START), 0);
    CHECK_EQ_INT(count(&s, "flex", EVENT_END), 0);
}

/* A weight shift (the load steps up by 12 % with a sharp start, no muscle
 * vibration) 3 s before a flex. The shift's sharp start leaks into the band
 * and may be taken for a flex; one that goes quiet stays open while its load
 * stays up (an MMG under a noisy sensor is not seen either), but it must end
 * by the flex's onset: the flex must be found at its own onset, not merged
 * with the shift into one flex dated at the shift. */
static void test_weight_shift_then_flex(void)
{
    printf("weight shift, then a flex\n");
    script_t sc = {
        .flex_on = 10.0, .flex_off = 13.5, .tremor_on = -1, .tremor_off = -1, .shift_at = 7.0};
    seen_t s;
    run(&sc, 1000.0f, &s);
    CHECK_EQ_INT(count(&s, "hold", EVENT_START), 1);
    CHECK(count(&s, "flex", EVENT_START) >= 1 && count(&s, "flex", EVENT_START) <= 2);
    CHECK_EQ_INT(count(&s, "flex", EVENT_END), count(&s, "flex", EVENT_START));
    const event_t *last = NULL;
    for (int i = 0; i < s.n; i++) {
        if (strcmp(s.ev[i].type, "flex") != 0 || s.ev[i].phase != EVENT_END)
            continue;
        if (s.ev[i].t_start_dev < 9.0)
            CHECK(s.ev[i].t_dev <= 10.05); /* the shift, closed by the flex's onset */
        last = &s.ev[i];
    }
    CHECK(last != NULL);
    if (!last)
        return;
    CHECK_NEAR(last->t_start_dev, 10.0, 0.05);
    CHECK_NEAR(last->t_dev, 13.5, 0.2);
}

/* The script's one flex, published once it has relaxed (its start and end
 * together, decided on the relax): one start and one end, the end's start
 * within start_tol of the true onset and its end within 0.2 s of the true
 * end. Returns the end (NULL if missing) and its start in *fs. */
static const event_t *flex_decided_on_relax(const seen_t *s, const script_t *sc,
                                            double start_tol, const event_t **fs)
{
    CHECK_EQ_INT(count(s, "flex", EVENT_START), 1);
    CHECK_EQ_INT(count(s, "flex", EVENT_END), 1);
    const event_t *fe = find(s, "flex", EVENT_END);
    *fs = find(s, "flex", EVENT_START);
    if (!*fs || !fe)
        return NULL;
    printf("  start %.3f, decided %.3f, end %.3f (true %.1f, %.1f)\n", (*fs)->t_dev,
           event_get_field(*fs, "t_decided_dev"), fe->t_dev, sc->flex_on, sc->flex_off);
    CHECK_NEAR(fe->t_start_dev, sc->flex_on, start_tol);
    CHECK_NEAR(fe->t_dev, sc->flex_off, 0.2);
    CHECK(event_get_field(*fs, "t_decided_dev") >= fe->t_dev); /* decided on its relax */
    return fe;
}

/* A weak contraction with no vibration at all, rising 10 % of the load
 * over 0.4 s in a hold that breathes (8 % of the load) under a noisy
 * sensor (60 Pa): no start path sees it, as the breathing sets the slopes'
 * resting level. Published as a flex once it has relaxed, its start and
 * end together. */
static void test_flex_without_vibration(void)
{
    printf("flex without vibration\n");
    script_t sc = {.flex_on = 11.0,
                   .flex_off = 15.0,
                   .tremor_on = -1,
                   .tremor_off = -1,
                   .shift_at = -1,
                   .rise_pa = 2500.0,
                   .no_mmg = 1,
                   .ramp_s = 0.4,
                   .noise_pa = 60.0,
                   .breath = 0.08};
    seen_t s;
    run(&sc, 1000.0f, &s);
    const event_t *fs, *fe = flex_decided_on_relax(&s, &sc, 0.1, &fs);
    if (!fe)
        return;
    CHECK_EQ_INT((int)fs->id, (int)fe->id);
    CHECK(event_get_field(fe, "pressure_rise_pa") > 2000.0);
}

/* A weak contraction with no vibration rising only 4 % of the load over
 * 0.8 s under a noisy sensor (150 Pa): the breathing predictor learns the
 * slow rise as it comes, so no start path and no pulse sees it. Its relax
 * lands on the released load (a further 4 %), and that steep fall, paired
 * with the step before it, is published as a flex, start and end together. */
static void test_box_flex(void)
{
    printf("weak slow flex found from its relax\n");
    script_t sc = {.flex_on = 9.0,
                   .flex_off = 16.0,
                   .tremor_on = -1,
                   .tremor_off = -1,
                   .shift_at = -1,
                   .rise_pa = 1000.0,
                   .no_mmg = 1,
                   .ramp_s = 0.8,
                   .noise_pa = 150.0,
                   .release_pa = 1000.0};
    seen_t s;
    run(&sc, 1000.0f, &s);
    const event_t *fs, *fe = flex_decided_on_relax(&s, &sc, 0.2, &fs);
    if (!fe)
        return;
    CHECK_NEAR(event_get_field(fe, "pressure_rise_pa"), 1000.0, 300.0);
}

/* The script's one flex, published as one start and one end: the end's
 * start within 40 ms of the true onset and its end within end_tol of the
 * true end. */
static void check_one_flex(const seen_t *s, const script_t *sc, double end_tol)
{
    CHECK_EQ_INT(count(s, "flex", EVENT_START), 1);
    CHECK_EQ_INT(count(s, "flex", EVENT_END), 1);
    const event_t *fe = find(s, "flex", EVENT_END);
    if (!fe)
        return;
    printf("  start %.3f, end %.3f (true %.1f, %.1f)\n", fe->t_start_dev, fe->t_dev, sc->flex_on,
           sc->flex_off);
    CHECK_NEAR(fe->t_start_dev, sc->flex_on, 0.04);
    CHECK_NEAR(fe->t_dev, sc->flex_off, end_tol);
}

/* An effort held for seconds is never steady: here its force and MMG swing
 * by 40 % at 0.8 Hz, so that each trough falls under half the peaks, and
 * its faint MMG (6 Pa in each component, under 10 Pa of sensor noise) dims
 * out of sight with it. Still one flex, ended at its relax: before, its
 * end was judged against its peak, and its first trough ended it at 8.9 s
 * (docs/DSP.md, "A flex's level"). */
static void test_wandering_flex(void)
{
    printf("flex whose force wanders\n");
    script_t sc = {.flex_on = 8.0,
                   .flex_off = 14.0,
                   .tremor_on = -1,
                   .tremor_off = -1,
                   .shift_at = -1,
                   .mmg_pa = 6.0,
                   .wander = 0.4};
    seen_t s;
    run(&sc, 1000.0f, &s);
    check_one_flex(&s, &sc, 0.15);
}

/* Sway makes a flex's plateau sag under half its peak while the muscle
 * still vibrates: the flex lasts to its relax ramp, and its end is dated at
 * the ramp's foot, not extrapolated from the early 80 % / 50 % crossings. */
static void test_sagging_flex(void)
{
    printf("flex whose plateau sags\n");
    script_t sc = {.flex_on = 8.0,
                   .flex_off = 12.5,
                   .tremor_on = -1,
                   .tremor_off = -1,
                   .shift_at = -1,
                   .sag = 0.65};
    seen_t s;
    run(&sc, 1000.0f, &s);
    check_one_flex(&s, &sc, 0.04);
}

/* Tremor at the top of its range (13 Hz, inside the detection band) goes
 * on 0.7 s past a 1.2 s flex's relax, and the breathing then lifts the load
 * back over the flex's peak and lowers it slowly: the flex ends once the
 * vibration has been gone a while, and its end is dated at the relax, the
 * one steep fall since it began, not 1.6 s later where the vibration went. */
static void test_tremor_outlasts_flex(void)
{
    printf("tremor outlasting a flex\n");
    script_t sc = {.flex_on = 10.4,
                   .flex_off = 11.6,
                   .tremor_on = 10.9,
                   .tremor_off = 12.3,
                   .shift_at = -1,
                   .rise_pa = 1500.0,
                   .breath = 0.04,
                   .tremor = 8.0,
                   .tremor_hz = 13.0};
    seen_t s;
    run(&sc, 1000.0f, &s);
    check_one_flex(&s, &sc, 0.1);
}

/* A 0.1 s burst of vibration across the band just over the power ratio (two
 * overlapping frames), with no contraction, while breathing lifts the load
 * past the rise fraction: the predictor expected that rise, so no flex. The
 * same faint vibration on a rise it did not expect (a contraction of 10 %
 * of the load in 0.2 s) starts one at once. */
static void test_marginal_vibration(void)
{
    printf("marginal vibration on a breath, and on a contraction\n");
    script_t sc = {.flex_on = -1,
                   .flex_off = -1,
                   .tremor_on = -1,
                   .tremor_off = -1,
                   .shift_at = -1,
                   .breath = 0.08,
                   .burst_at = 8.0,
                   .burst_pa = 14.0};
    seen_t s;
    run(&sc, 1000.0f, &s);
    CHECK_EQ_INT(count(&s, "flex", EVENT_START), 0);
    script_t flex = {.flex_on = 8.0,
                     .flex_off = 12.0,
                     .tremor_on = -1,
                     .tremor_off = -1,
                     .shift_at = -1,
                     .rise_pa = 2500.0,
                     .mmg_pa = 14.0,
                     .breath = 0.08};
    run(&flex, 1000.0f, &s);
    CHECK_EQ_INT(count(&s, "flex", EVENT_START), 1);
    const event_t *fs = find(&s, "flex", EVENT_START);
    if (!fs)
        return;
    printf("  start %.3f, decided %.3f (true 8.0)\n", fs->t_dev,
           event_get_field(fs, "t_decided_dev"));
    CHECK_NEAR(fs->t_dev, 8.0, 0.05);
    CHECK(event_get_field(fs, "t_decided_dev") < 8.3);
}

/* A contraction begins as a breath falls fastest (10 % of the load at
 * 0.25 Hz) and rises slower (6 % in 0.8 s) than the breath falls: the load
 * keeps falling, so no start path sees the flex until the breath turns,
 * 1.5 s later, but its MMG has been loud all along and dates it, within
 * the scorer's onset tolerance (the MMG grows with the slow ramp). */
static void test_flex_under_exhale(void)
{
    printf("flex under an exhale\n");
    script_t sc = {.flex_on = 10.0,
                   .flex_off = 15.0,
                   .tremor_on = -1,
                   .tremor_off = -1,
                   .shift_at = -1,
                   .rise_pa = 1500.0,
                   .ramp_s = 0.8,
                   .breath = 0.1};
    seen_t s;
    run(&sc, 1000.0f, &s);
    CHECK_EQ_INT(count(&s, "flex", EVENT_START), 1);
    const event_t *fs = find(&s, "flex", EVENT_START);
    if (!fs)
        return;
    printf("  start %.3f, decided %.3f (true 10.0)\n", fs->t_dev,
           event_get_field(fs, "t_decided_dev"));
    CHECK_NEAR(fs->t_dev, 10.0, 0.2);
}

/* A flex relaxes at 11.5 s while tremor in the detection band (13 Hz)
 * goes on to 12.2 s, and at 11.8 s the user shifts weight onto the ball
 * (+12 % of the load, more than half the flex's rise): the load never
 * comes back under half the peak rise, but once the band has been quiet a
 * while the relax's steep fall dates the end. */
static void test_shift_after_relax(void)
{
    printf("weight shift after a flex's relax\n");
    script_t sc = {.flex_on = 8.0,
                   .flex_off = 11.5,
                   .tremor_on = 9.0,
                   .tremor_off = 12.2,
                   .shift_at = 11.8,
                   .tremor = 8.0,
                   .tremor_hz = 13.0};
    seen_t s;
    run(&sc, 1000.0f, &s);
    check_one_flex(&s, &sc, 0.1);
}

static void test_init_rejects(void)
{
    ball_settings_t bad = ball_default;
    static ball_t b;
    size_t len = ball_mem_size(&ball_default, 1000.0f);
    CHECK(len > 0);
    void *mem = malloc(len);
    CHECK(ball_mem_size(&ball_default, 50.0f) == 0);
    CHECK_EQ_INT(ball_init(&b, &ball_default, 50.0f, mem, len), -EINVAL);
    bad.load_off_pa = bad.load_on_pa + 1.0f;
    CHECK_EQ_INT(ball_init(&b, &bad, 1000.0f, mem, len), -EINVAL);
    bad = ball_default;
    bad.load_off_share = 1.0; /* every load would be off at once */
    CHECK_EQ_INT(ball_init(&b, &bad, 1000.0f, mem, len), -EINVAL);
    bad = ball_default;
    bad.load_tau_s = 0.0;
    CHECK_EQ_INT(ball_init(&b, &bad, 1000.0f, mem, len), -EINVAL);
    bad = ball_default;
    bad.relax_z = -1.0;
    CHECK_EQ_INT(ball_init(&b, &bad, 1000.0f, mem, len), -EINVAL);
    bad = ball_default;
    bad.detect_lo_hz = bad.band_lo_hz - 1.0f; /* the detection band lies in the band */
    CHECK_EQ_INT(ball_init(&b, &bad, 1000.0f, mem, len), -EINVAL);
    bad = ball_default;
    bad.pressure_lp_hz = 600.0; /* above Nyquist */
    CHECK_EQ_INT(ball_init(&b, &bad, 1000.0f, mem, len), -EINVAL);
    bad = ball_default;
    bad.ramp_z = 0.0; /* every slope would be a ramp */
    CHECK_EQ_INT(ball_init(&b, &bad, 1000.0f, mem, len), -EINVAL);
    bad = ball_default;
    bad.slope_tau_s = 0.0;
    CHECK_EQ_INT(ball_init(&b, &bad, 1000.0f, mem, len), -EINVAL);
    CHECK_EQ_INT(ball_init(&b, &ball_default, 1000.0f, mem, len - 1), -ENOMEM);
    CHECK_EQ_INT(ball_init(&b, &ball_default, 1000.0f, mem, len), 0);
    free(mem);
}

static void test_match(void)
{
    printf("score_match\n");
    score_interval_t truth[] = {{1.0, 3.0}, {5.0, 5.4}, {10.0, 20.0}};
    score_interval_t det[] = {{1.1, 3.2}, {5.25, 5.5}, {9.85, 16.0}, {10.0, 20.0}, {30, 31}};
    int m[5];
    int n = score_match(&score_rule_default, truth, 3, det, 5, m);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(m[0], 0);
    CHECK_EQ_INT(m[1], -1); /* onset 250 ms late */
    CHECK_EQ_INT(m[2], -1); /* one-to-one: the exact one wins */
    CHECK_EQ_INT(m[3], 2);
    CHECK_EQ_INT(m[4], -1);
    score_values_t v = {0};
    for (int i = 1; i <= 11; i++)
        score_values_add(&v, 11 - i);
    CHECK_NEAR(score_values_quantile(&v, 0.5), 5.0, 1e-12);
    CHECK_NEAR(score_values_quantile(&v, 0.9), 9.0, 1e-12);
    score_values_free(&v);
}

int main(void)
{
    test_hold_and_flex(1000.0f);
    test_hold_and_flex(500.0f);
    test_tremor_is_not_a_flex();
    test_tremor_outlasts_flex();
    test_marginal_vibration();
    test_flex_under_exhale();
    test_shift_after_relax();
    test_weight_shift_then_flex();
    test_sagging_flex();
    test_wandering_flex();
    test_box_flex();
    test_flex_without_vibration();
    test_init_rejects();
    test_match();
    return check_failures ? 1 : 0;
}

/* Tests of the scraping-tool simulation: reproducibility, physical
 * consistency of the sensor outputs with the rigid-body truth, and the truth
 * itself against the settings. Seeded; the seed is printed and can be given
 * as the first argument. */
#include "check.h"
#include "sim_scraper.h"

#include <errno.h>

#define MAX_STROKES 8000
#define MAX_MARKS 400
#define DEG (3.14159265358979323846 / 180.0)
#define G 9.80665

typedef struct {
    double t_start, t_end, length, peak, mean, speed, duration;
    int hard, truncated;
    const char *direction;
    /* Measured from the world truth while the stroke ran. */
    double int_length; /* path length from the integrated world acceleration */
    double rise;       /* vertical displacement of the contact point */
    double min_along_speed, mean_along_speed;
} stroke_rec_t;

typedef struct {
    stroke_rec_t strokes[MAX_STROKES];
    int n_strokes;
    double mark_t[MAX_MARKS];
    int mark_area[MAX_MARKS];
    int n_marks;
    uint64_t hash; /* of every truth event, for determinism */
} truth_log_t;

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

static void on_truth(const event_t *ev, void *ctx)
{
    truth_log_t *log = ctx;
    log->hash = hash_bytes(log->hash, &ev->t_dev, sizeof ev->t_dev);
    log->hash = hash_bytes(log->hash, &ev->t_start_dev, sizeof ev->t_start_dev);
    for (int i = 0; i < ev->n_fields; i++)
        log->hash = hash_bytes(log->hash, &ev->fields[i].value, sizeof(double));
    if (strcmp(ev->type, "mark") == 0) {
        CHECK(ev->phase == EVENT_INSTANT);
        CHECK_STR(ev->text_name, "area");
        if (log->n_marks < MAX_MARKS) {
            log->mark_t[log->n_marks] = ev->t_dev;
            log->mark_area[log->n_marks] = (int)event_get_field(ev, "area_index");
            log->n_marks++;
        }
        return;
    }
    CHECK_STR(ev->type, "stroke");
    CHECK(ev->phase == EVENT_END);
    CHECK_STR(ev->text_name, "direction");
    if (log->n_strokes >= MAX_STROKES)
        return;
    stroke_rec_t *r = &log->strokes[log->n_strokes++];
    r->t_start = ev->t_start_dev;
    r->t_end = ev->t_dev;
    r->length = event_get_field(ev, "length_m");
    r->peak = event_get_field(ev, "peak_force_n");
    r->mean = event_get_field(ev, "mean_force_n");
    r->speed = event_get_field(ev, "mean_speed_mps");
    r->duration = event_get_field(ev, "duration_s");
    r->hard = (int)event_get_field(ev, "hard_case");
    r->truncated = !isnan(event_get_field(ev, "truncated"));
    r->direction = ev->text_value;
}

/* Per-contact measurements from the world truth, matched to the truth
 * strokes by time afterwards. */
typedef struct {
    double t_start, t_end, int_length, rise, min_along, sum_along;
    double p0[3], dir_hint[3];
    long n;
} contact_meas_t;

typedef struct {
    contact_meas_t c[MAX_STROKES];
    int n;
    /* Rest: accelerometer against the orientation. */
    double rest_mag_sum, rest_angle_max, rest_angle_sum;
    long rest_n;
    /* Force checks. */
    long air_force_nonzero, air_force_outlier, contact_force_nonpositive, air_n;
    double max_gyro_err_dps, max_acc_err_g;
} world_log_t;

/* Runs a session of n samples, checking sample-level physics as it goes.
 * With ideal (noise 0) settings it also checks the gyroscope against the
 * orientation's finite difference and the accelerometer against R^T(a - g). */
static void run(const sim_scraper_settings_t *set, uint64_t seed, long n, truth_log_t *tl,
                world_log_t *wl)
{
    static sim_scraper_t sim;
    CHECK_EQ_INT(sim_scraper_init(&sim, set, seed), 0);
    memset(tl, 0, sizeof *tl);
    memset(wl, 0, sizeof *wl);
    tl->hash = 0xcbf29ce484222325ULL;
    double v_int[3] = {0, 0, 0}, a_prev[3] = {0, 0, 0}, dt = 1.0 / set->rate_hz;
    double q_prev[4] = {1, 0, 0, 0}, gyr_prev[3] = {0, 0, 0};
    int prev_contact = 0;
    uint32_t prev_seq = 0;
    double last_contact_t = -1.0; /* the stick-slip resonance rings on briefly after a lift */
    contact_meas_t *cur = NULL;
    double force_sigma_max = 0.2 * set->noise * ((set->hard_cases & SIM_SCRAPER_NOISY) ? 3 : 1);
    for (long i = 0; i < n; i++) {
        sample_t smp;
        sim_scraper_world_t w;
        sim_scraper_step(&sim, &smp, on_truth, tl);
        sim_scraper_world_state(&sim, &w);
        CHECK_NEAR(smp.t_dev, i * dt, 1e-9);

        /* Velocity from the world acceleration (trapezoid); the tool is
         * truly still whenever it rests, which re-anchors the integral. */
        if (w.segment == SIM_SCRAPER_SEG_REST) {
            memset(v_int, 0, sizeof v_int);
        } else {
            for (int k = 0; k < 3; k++)
                v_int[k] += 0.5 * (a_prev[k] + w.acc_mps2[k]) * dt;
        }
        memcpy(a_prev, w.acc_mps2, sizeof a_prev);

        int contact = w.segment == SIM_SCRAPER_SEG_CONTACT;
        if (contact)
            last_contact_t = smp.t_dev;
        if (contact) {
            CHECK(w.force_n > 0.0);
            if (!(w.force_n > 0.0))
                wl->contact_force_nonpositive++;
            /* A new contact starts where the force first appears, or at the
             * force minimum of a no-lift pair (a velocity zero). */
            double sp = sqrt(v_int[0] * v_int[0] + v_int[1] * v_int[1] + v_int[2] * v_int[2]);
            if (!prev_contact || w.contact != prev_seq) {
                if (wl->n < MAX_STROKES) {
                    cur = &wl->c[wl->n++];
                    memset(cur, 0, sizeof *cur);
                    cur->t_start = smp.t_dev;
                    cur->min_along = 1e9;
                    memcpy(cur->p0, w.pos_m, sizeof cur->p0);
                } else {
                    cur = NULL;
                }
            }
            if (cur) {
                cur->int_length += sp * dt;
                cur->n++;
                cur->t_end = smp.t_dev;
                cur->rise = w.pos_m[2] - cur->p0[2];
                if (cur->n == 20) {
                    for (int k = 0; k < 3; k++)
                        cur->dir_hint[k] = w.pos_m[k] - cur->p0[k];
                }
                if (cur->n > 20) {
                    double along = 0.0, hn = 0.0;
                    for (int k = 0; k < 3; k++) {
                        along += w.vel_mps[k] * cur->dir_hint[k];
                        hn += cur->dir_hint[k] * cur->dir_hint[k];
                    }
                    along /= sqrt(hn);
                    cur->sum_along += along;
                    if (along < cur->min_along)
                        cur->min_along = along;
                }
            }
        } else {
            wl->air_n++;
            if (w.force_n != 0.0)
                wl->air_force_nonzero++;
            if (set->noise > 0 && fabs(smp.p - w.offset_n) > 6.0 * force_sigma_max)
                wl->air_force_outlier++;
            CHECK(fabs(w.offset_n) <= 0.5 * set->noise + 1e-9);
        }
        prev_contact = contact;
        prev_seq = w.contact;

        /* At rest the accelerometer reads +1 g opposite to gravity, turned
         * into the sensor frame: R^T (0, 0, 1). */
        if (w.segment == SIM_SCRAPER_SEG_REST) {
            double a = w.q[0], b = w.q[1], c = w.q[2], d = w.q[3];
            double up_b[3] = {2 * (b * d - a * c), 2 * (c * d + a * b), 1 - 2 * (b * b + c * c)};
            double mag =
                sqrt(smp.acc[0] * smp.acc[0] + smp.acc[1] * smp.acc[1] + smp.acc[2] * smp.acc[2]);
            double cosang =
                (smp.acc[0] * up_b[0] + smp.acc[1] * up_b[1] + smp.acc[2] * up_b[2]) / mag;
            double ang = acos(fmin(1.0, cosang)) / DEG;
            wl->rest_mag_sum += mag;
            wl->rest_angle_sum += ang;
            if (ang > wl->rest_angle_max) {
                wl->rest_angle_max = ang;
                if (getenv("DEBUG_REST"))
                    fprintf(stderr, "rest angle %g at %g\n", ang, smp.t_dev);
            }
            wl->rest_n++;
        }

        if (set->noise == 0.0f) {
            /* The gyroscope is the body rate that carries q_prev to q. */
            if (i > 0) {
                double qc[4] = {q_prev[0], -q_prev[1], -q_prev[2], -q_prev[3]}, r[4];
                r[0] = qc[0] * w.q[0] - qc[1] * w.q[1] - qc[2] * w.q[2] - qc[3] * w.q[3];
                r[1] = qc[0] * w.q[1] + qc[1] * w.q[0] + qc[2] * w.q[3] - qc[3] * w.q[2];
                r[2] = qc[0] * w.q[2] - qc[1] * w.q[3] + qc[2] * w.q[0] + qc[3] * w.q[1];
                r[3] = qc[0] * w.q[3] + qc[1] * w.q[2] - qc[2] * w.q[1] + qc[3] * w.q[0];
                if (r[0] < 0)
                    for (int k = 0; k < 4; k++)
                        r[k] = -r[k];
                double sv = sqrt(r[1] * r[1] + r[2] * r[2] + r[3] * r[3]);
                double scale = sv > 1e-15 ? 2.0 * atan2(sv, r[0]) / sv : 2.0;
                for (int k = 0; k < 3; k++) {
                    double rate = r[k + 1] * scale / dt / DEG;
                    double e = fabs(rate - gyr_prev[k]);
                    if (e > wl->max_gyro_err_dps)
                        wl->max_gyro_err_dps = e;
                }
            }
            memcpy(q_prev, w.q, sizeof q_prev);
            for (int k = 0; k < 3; k++)
                gyr_prev[k] = smp.gyr[k];
            /* Outside contact there is no vibration: acc is exactly R^T(a - g). */
            if (!contact && smp.t_dev > last_contact_t + 0.3) {
                double a = w.q[0], b = w.q[1], c = w.q[2], d = w.q[3];
                double f[3] = {w.acc_mps2[0], w.acc_mps2[1], w.acc_mps2[2] + G};
                double fb[3] = {
                    (1 - 2 * (c * c + d * d)) * f[0] + 2 * (b * c + a * d) * f[1] +
                        2 * (b * d - a * c) * f[2],
                    2 * (b * c - a * d) * f[0] + (1 - 2 * (b * b + d * d)) * f[1] +
                        2 * (c * d + a * b) * f[2],
                    2 * (b * d + a * c) * f[0] + 2 * (c * d - a * b) * f[1] +
                        (1 - 2 * (b * b + c * c)) * f[2],
                };
                for (int k = 0; k < 3; k++) {
                    double e = fabs(smp.acc[k] - fb[k] / G);
                    if (e > wl->max_acc_err_g && e > 0.0)
                        wl->max_acc_err_g = e;
                }
            }
        }
    }
}

/* Matches truth strokes to world contacts by start time. */
static int match(const truth_log_t *tl, const world_log_t *wl, int i)
{
    for (int j = 0; j < wl->n; j++)
        if (fabs(wl->c[j].t_start - tl->strokes[i].t_start) < 0.0021)
            return j;
    return -1;
}

static void test_determinism(uint64_t seed)
{
    static sim_scraper_t a, b, c;
    sim_scraper_settings_t set = sim_scraper_default;
    set.hard_cases = SIM_SCRAPER_HARD_ALL;
    static truth_log_t ta, tb;
    memset(&ta, 0, sizeof ta);
    memset(&tb, 0, sizeof tb);
    CHECK_EQ_INT(sim_scraper_init(&a, &set, seed), 0);
    CHECK_EQ_INT(sim_scraper_init(&b, &set, seed), 0);
    CHECK_EQ_INT(sim_scraper_init(&c, &set, seed + 1), 0);
    long differ = 0, mismatch = 0;
    for (long i = 0; i < 500L * 300; i++) {
        sample_t sa, sb, sc;
        int ra = sim_scraper_step(&a, &sa, on_truth, &ta);
        int rb = sim_scraper_step(&b, &sb, on_truth, &tb);
        sim_scraper_step(&c, &sc, NULL, NULL);
        /* Field by field: sample_t has padding. */
        if (ra != rb || sa.t_dev != sb.t_dev || sa.p != sb.p ||
            memcmp(sa.acc, sb.acc, sizeof sa.acc) != 0 ||
            memcmp(sa.gyr, sb.gyr, sizeof sa.gyr) != 0)
            mismatch++;
        if (sa.p != sc.p)
            differ++;
    }
    CHECK_EQ_INT(mismatch, 0);
    CHECK(differ > 1000);
    CHECK(ta.n_strokes > 50);
    CHECK_EQ_INT(ta.n_strokes, tb.n_strokes);
    CHECK(ta.hash == tb.hash);
}

static void test_default_session(uint64_t seed)
{
    static truth_log_t tl;
    static world_log_t wl;
    sim_scraper_settings_t set = sim_scraper_default;
    long n = 500L * 3600; /* one hour */
    run(&set, seed, n, &tl, &wl);
    fprintf(stderr, "default: %d strokes, %d marks in 1 h\n", tl.n_strokes, tl.n_marks);
    CHECK(tl.n_strokes > 800);
    CHECK(tl.n_marks >= 5);

    /* Rest: 1 g, pointing where the orientation says up is. */
    double mag = wl.rest_mag_sum / wl.rest_n, ang = wl.rest_angle_sum / wl.rest_n;
    fprintf(stderr, "rest: |acc| %.4f g, angle to R^T up %.2f deg mean, %.2f max\n", mag, ang,
            wl.rest_angle_max);
    CHECK_NEAR(mag, 1.0, 0.02);
    CHECK(ang < 1.5);
    CHECK(wl.rest_angle_max < 4.0);

    /* Force: exactly zero off the skin (the reading is offset plus noise),
     * positive on it. */
    CHECK_EQ_INT(wl.air_force_nonzero, 0);
    CHECK(wl.air_force_outlier < wl.air_n / 100000 + 2);
    CHECK_EQ_INT(wl.contact_force_nonpositive, 0);

    int up = 0, down = 0, level = 0, matched = 0;
    double worst_len = 0.0;
    for (int i = 0; i < tl.n_strokes; i++) {
        const stroke_rec_t *r = &tl.strokes[i];
        CHECK(r->mean <= r->peak);
        CHECK(r->mean > 0.0);
        CHECK_NEAR(r->speed, r->length / r->duration, 1e-9);
        CHECK_NEAR(r->duration, r->t_end - r->t_start, 1e-9);
        CHECK(r->duration >= 0.3 - 1e-9 && r->duration <= 2.0 + 1e-9);
        CHECK(r->length >= set.stroke_len_min_m - 1e-9 && r->length <= set.stroke_len_max_m * 1.05);
        CHECK(r->peak <= set.force_max_n * 1.35 && r->peak >= set.force_min_n * 0.8);
        if (!(r->peak <= set.force_max_n * 1.35 && r->peak >= set.force_min_n * 0.8))
            fprintf(stderr, "peak %g mean %g\n", r->peak, r->mean);
        CHECK_EQ_INT(r->hard, 0);
        CHECK(!r->truncated);
        if (i > 0)
            CHECK(r->t_start >= tl.strokes[i - 1].t_end);
        if (strcmp(r->direction, "up") == 0)
            up++;
        else if (strcmp(r->direction, "down") == 0)
            down++;
        else if (strcmp(r->direction, "level") == 0)
            level++;
        else
            CHECK(0);
        int j = match(&tl, &wl, i);
        if (j < 0) {
            CHECK(j >= 0);
            continue;
        }
        matched++;
        const contact_meas_t *c = &wl.c[j];
        /* Length from integrating the world acceleration. */
        double e = fabs(c->int_length - r->length);
        if (e > worst_len)
            worst_len = e;
        CHECK(e <= 0.01 * r->length + 0.001);
        /* Direction from the world displacement, by the documented rule. */
        const char *dir = fabs(c->rise) < sin(10 * DEG) * r->length ? "level"
                          : c->rise > 0                             ? "up"
                                                                    : "down";
        CHECK_STR(dir, r->direction);
    }
    fprintf(stderr, "worst length error %.5f m over %d matched strokes\n", worst_len, matched);
    CHECK_EQ_INT(matched, tl.n_strokes);
    double nt = tl.n_strokes;
    fprintf(stderr, "up %.3f down %.3f level %.3f\n", up / nt, down / nt, level / nt);
    CHECK_NEAR(down / nt, set.down_fraction, 0.035);
    CHECK_NEAR(level / nt, set.level_fraction, 0.035);
    CHECK_NEAR(up / nt, 1.0 - set.down_fraction - set.level_fraction, 0.045);

    /* Strokes per area: between two button presses. */
    for (int m = 0; m < tl.n_marks; m++) {
        double from = m ? tl.mark_t[m - 1] : 0.0, to = tl.mark_t[m];
        int count = 0;
        for (int i = 0; i < tl.n_strokes; i++)
            if (tl.strokes[i].t_end > from && tl.strokes[i].t_end < to)
                count++;
        CHECK(count >= set.strokes_per_area_min && count <= set.strokes_per_area_max);
        CHECK_EQ_INT(tl.mark_area[m], m % 5);
    }
}

static void test_ideal_sensors(uint64_t seed)
{
    static truth_log_t tl;
    static world_log_t wl;
    sim_scraper_settings_t set = sim_scraper_default;
    set.noise = 0.0f;
    set.hard_cases = SIM_SCRAPER_HESITANT | SIM_SCRAPER_NO_LIFT;
    run(&set, seed, 500L * 600, &tl, &wl);
    fprintf(stderr, "ideal: gyro vs dq/dt max %.2e deg/s, acc vs R^T(a-g) max %.2e g\n",
            wl.max_gyro_err_dps, wl.max_acc_err_g);
    /* float output resolution at a few hundred deg/s is about 1e-5. */
    CHECK(wl.max_gyro_err_dps < 1e-3);
    CHECK(wl.max_acc_err_g < 1e-5);
    CHECK(wl.rest_angle_max < 0.1); /* float resolution near acos(1) */
}

static void test_hard_cases(uint64_t seed)
{
    static truth_log_t tl;
    static world_log_t wl;
    sim_scraper_settings_t set = sim_scraper_default;
    set.hard_cases = SIM_SCRAPER_HARD_ALL;
    set.hard_case_share = 0.6f;
    run(&set, seed, 500L * 1800, &tl, &wl);
    int n_kind[32] = {0}, pairs = 0, reversals = 0;
    for (int i = 0; i < tl.n_strokes; i++) {
        const stroke_rec_t *r = &tl.strokes[i];
        n_kind[r->hard & 31]++;
        CHECK(r->mean <= r->peak);
        CHECK_NEAR(r->speed, r->length / r->duration, 1e-9);
        int j = match(&tl, &wl, i);
        CHECK(j >= 0);
        if (j < 0)
            continue;
        const contact_meas_t *c = &wl.c[j];
        CHECK(c->int_length <= 1.01 * r->length + 0.001 &&
              c->int_length >= 0.99 * r->length - 0.001);
        if (r->hard == SIM_SCRAPER_HESITANT) {
            /* One stroke that nearly stops but never goes backwards. */
            double mean_along = c->sum_along / (double)(c->n - 20);
            CHECK(c->min_along > -1e-9);
            CHECK(c->min_along < 0.35 * mean_along);
        }
        if (r->hard == SIM_SCRAPER_SHORT)
            CHECK(r->length >= 0.02 - 1e-9 && r->length <= 0.045);
        if (r->hard == SIM_SCRAPER_FAST)
            CHECK(r->speed >= 0.5);
        if (r->hard == SIM_SCRAPER_NO_LIFT && i > 0 && tl.strokes[i - 1].t_end == r->t_start) {
            /* The second of a pair: it starts where the first ended, with
             * force on the skin the whole time (checked per sample). */
            pairs++;
            if (strcmp(tl.strokes[i - 1].direction, r->direction) != 0)
                reversals++;
        }
    }
    fprintf(stderr,
            "hard: %d strokes: hesitant %d no-lift %d (pairs %d, reversals %d) short %d fast %d\n",
            tl.n_strokes, n_kind[SIM_SCRAPER_HESITANT], n_kind[SIM_SCRAPER_NO_LIFT], pairs,
            reversals, n_kind[SIM_SCRAPER_SHORT], n_kind[SIM_SCRAPER_FAST]);
    CHECK(n_kind[SIM_SCRAPER_HESITANT] > 30);
    CHECK(pairs > 20);
    CHECK(reversals > 5 && reversals < pairs);
    /* Every no-lift stroke is one of a pair (the run may cut the last pair). */
    CHECK(n_kind[SIM_SCRAPER_NO_LIFT] == 2 * pairs || n_kind[SIM_SCRAPER_NO_LIFT] == 2 * pairs + 1);
    CHECK(n_kind[SIM_SCRAPER_SHORT] > 30);
    CHECK(n_kind[SIM_SCRAPER_FAST] > 30);
    CHECK_EQ_INT(wl.contact_force_nonpositive, 0);
    CHECK_EQ_INT(wl.air_force_nonzero, 0);
}

static void test_duration_and_finish(uint64_t seed)
{
    static sim_scraper_t s;
    static truth_log_t tl;
    sim_scraper_settings_t set = sim_scraper_default;
    set.duration_s = 60.0;
    memset(&tl, 0, sizeof tl);
    CHECK_EQ_INT(sim_scraper_init(&s, &set, seed), 0);
    long i = 0;
    int bits = 0;
    for (; i < 500L * 70 && !(bits & SIM_SCRAPER_END); i++) {
        sample_t smp;
        bits = sim_scraper_step(&s, &smp, on_truth, &tl);
    }
    CHECK_EQ_INT(i, 500L * 60);
    int strokes = tl.n_strokes;
    CHECK(strokes > 10);
    for (int k = 0; k < strokes; k++)
        CHECK(!tl.strokes[k].truncated && tl.strokes[k].t_end < 60.0);
    sample_t smp;
    CHECK(sim_scraper_step(&s, &smp, on_truth, &tl) & SIM_SCRAPER_END);
    sim_scraper_finish(&s, on_truth, &tl);
    CHECK_EQ_INT(tl.n_strokes, strokes);

    /* An endless session stopped mid-stroke reports the stroke truncated. */
    set.duration_s = 0.0;
    memset(&tl, 0, sizeof tl);
    CHECK_EQ_INT(sim_scraper_init(&s, &set, seed), 0);
    sim_scraper_world_t w;
    int contact_seen = 0;
    for (i = 0; i < 500L * 120; i++) {
        sim_scraper_step(&s, &smp, on_truth, &tl);
        sim_scraper_world_state(&s, &w);
        if (w.segment == SIM_SCRAPER_SEG_CONTACT && ++contact_seen > 5 * 500 / 10 &&
            w.force_n > 5.0)
            break;
    }
    strokes = tl.n_strokes;
    sim_scraper_finish(&s, on_truth, &tl);
    CHECK_EQ_INT(tl.n_strokes, strokes + 1);
    CHECK(tl.strokes[strokes].truncated);
    sim_scraper_finish(&s, on_truth, &tl);
    sim_scraper_step(&s, &smp, on_truth, &tl);
    CHECK_EQ_INT(tl.n_strokes, strokes + 1);
}

static void test_settings(void)
{
    static sim_scraper_t s;
    sim_scraper_settings_t set = sim_scraper_default;
    set.rate_hz = 10.0f;
    CHECK_EQ_INT(sim_scraper_init(&s, &set, 1), -EINVAL);
    set = sim_scraper_default;
    set.down_fraction = 0.7f;
    set.level_fraction = 0.5f;
    CHECK_EQ_INT(sim_scraper_init(&s, &set, 1), -EINVAL);
    set = sim_scraper_default;
    set.force_min_n = 50.0f;
    CHECK_EQ_INT(sim_scraper_init(&s, &set, 1), -EINVAL);
    int flags = -1;
    CHECK_EQ_INT(sim_scraper_hard_cases_parse("hesitant,fast", &flags), 0);
    CHECK_EQ_INT(flags, SIM_SCRAPER_HESITANT | SIM_SCRAPER_FAST);
    CHECK_EQ_INT(sim_scraper_hard_cases_parse("all", &flags), 0);
    CHECK_EQ_INT(flags, SIM_SCRAPER_HARD_ALL);
    CHECK_EQ_INT(sim_scraper_hard_cases_parse("none", &flags), 0);
    CHECK_EQ_INT(flags, 0);
    CHECK_EQ_INT(sim_scraper_hard_cases_parse("wobbly", &flags), -EINVAL);
    CHECK_STR(sim_scraper_area_name(4), "sole");
    CHECK_STR(sim_scraper_area_name(9), "?");
}

int main(int argc, char **argv)
{
    uint64_t seed = test_seed(argc, argv, 20240611);
    test_settings();
    test_determinism(seed);
    test_default_session(seed);
    test_ideal_sensors(seed + 7);
    test_hard_cases(seed + 13);
    test_duration_and_finish(seed + 21);
    return CHECK_DONE();
}

#include "orient.h"

#include <errno.h>
#include <math.h>

const orient_settings_t orient_default = {
    .fs_hz = 1000.0,
    .kp = 2.0,
    .accel_reject_g = 0.1,
    .reject_angle_deg = 10.0,
    .recovery_s = 3.0,
    .still_gyro_dps = 5.0,
    .steady_gyro_dps = 2.5,
    .still_acc_g = 0.05,
    .still_time_s = 0.5,
    .still_smooth_s = 0.1,
    .still_break_s = 0.01,
    .bias_tau_s = 1.0,
    .bias_prior_s = 1.0,
    .initial_bias_dps = {0.0, 0.0, 0.0},
    .acc_bias_rest_s = 0.1,
    .acc_bias_solve_s = 1.0,
    .acc_bias_prior_s = 0.2,
    .acc_bias_max_g = 0.1,
};

/* The squares of 1 g -+ half, the band's bounds on |a|^2 (a lower bound
 * under zero is none). */
static void band_sq(double half, float *lo_sq, float *hi_sq)
{
    double lo = 1.0 - half, hi = 1.0 + half;
    *lo_sq = lo > 0.0 ? (float)(lo * lo) : 0.0f;
    *hi_sq = (float)(hi * hi);
}

/* seconds at fs in whole samples, at least least. */
static uint32_t samples_of(double seconds, double fs_hz, uint32_t least)
{
    double n = floor(seconds * fs_hz + 0.5);
    return n < (double)least ? least : n > 4e9 ? 4000000000u : (uint32_t)n;
}

/* A run of samples for which a test holds: counts up to needed, back to
 * zero when it fails; true once the run is needed long. */
static bool run_held(uint32_t *count, bool now, uint32_t needed)
{
    if (!now)
        *count = 0;
    else if (*count < needed)
        (*count)++;
    return *count >= needed;
}

int orient_init(orient_t *o, const orient_settings_t *set)
{
    if (!(set->fs_hz > 0.0) || !(set->kp >= 0.0) || !(set->accel_reject_g >= 0.0) ||
        !(set->reject_angle_deg > 0.0) || !(set->recovery_s >= 0.0) ||
        !(set->still_gyro_dps >= 0.0) || !(set->steady_gyro_dps >= 0.0) ||
        !(set->still_acc_g >= 0.0) || !(set->still_time_s >= 0.0) ||
        !(set->still_smooth_s >= 0.0) || !(set->still_break_s >= 0.0) || !(set->bias_tau_s > 0.0) ||
        !(set->bias_prior_s >= 0.0) ||
        !(set->acc_bias_prior_s >= 0.0) || !(set->acc_bias_rest_s >= 0.0) ||
        !(set->acc_bias_solve_s > 0.0) || !(set->acc_bias_max_g >= 0.0))
        return -EINVAL;

    o->half_dt = (float)(0.5 / set->fs_hz);
    o->kp = (float)set->kp;
    o->deg_to_rad = (float)(M_PI / 180.0);
    band_sq(set->accel_reject_g, &o->reject_lo_sq, &o->reject_hi_sq);
    o->still_gyro_sq = (float)(set->still_gyro_dps * set->still_gyro_dps);
    band_sq(set->still_acc_g, &o->still_lo_sq, &o->still_hi_sq);
    /* Beyond 90 degrees the cross product shrinks again; the sign of the
     * dot product catches that case separately. */
    o->reject_sin =
        set->reject_angle_deg >= 90.0 ? 2.0f : (float)sin(set->reject_angle_deg * M_PI / 180.0);
    o->bias_alpha = (float)-expm1(-1.0 / (set->bias_tau_s * set->fs_hz));
    o->bias_prior_n = (float)(set->bias_prior_s * set->fs_hz);
    o->moving_gyro_sq = 9.0f * o->still_gyro_sq;
    band_sq(3.0 * set->still_acc_g, &o->moving_lo_sq, &o->moving_hi_sq);
    o->still_alpha = set->still_smooth_s > 0.0
                         ? (float)-expm1(-1.0 / (set->still_smooth_s * set->fs_hz))
                         : 1.0f;
    o->break_alpha = set->still_break_s > 0.0
                         ? (float)-expm1(-1.0 / (set->still_break_s * set->fs_hz))
                         : 1.0f;
    o->still_needed = samples_of(set->still_time_s, set->fs_hz, 1u);
    o->steady_alpha = (float)-expm1(-1.0 / (double)o->still_needed);
    o->steady_gyro_sq = (float)(set->steady_gyro_dps * set->steady_gyro_dps);
    o->recovery_needed = samples_of(set->recovery_s, set->fs_hz, 0u);
    for (int i = 0; i < 3; i++)
        o->initial_bias_dps[i] = (float)set->initial_bias_dps[i];
    double tp = set->acc_bias_prior_s, tm = set->acc_bias_max_g;
    o->acc_bias_on = tp > 0.0 && tm > 0.0;
    o->acc_prior = tp * set->fs_hz;
    o->acc_max_g = (float)tm;
    o->acc_rest_needed = samples_of(set->acc_bias_rest_s, set->fs_hz, 1u);
    o->acc_solve_every = samples_of(set->acc_bias_solve_s, set->fs_hz, 1u);
    band_sq(set->still_acc_g + tm, &o->acc_rest_lo_sq, &o->acc_rest_hi_sq);
    band_sq(3.0 * set->still_acc_g + tm, &o->acc_raw_lo_sq, &o->acc_raw_hi_sq);
    orient_reset(o);
    return 0;
}

void orient_reset(orient_t *o)
{
    o->q[0] = 1.0f;
    o->q[1] = o->q[2] = o->q[3] = 0.0f;
    for (int i = 0; i < 3; i++) {
        o->up_sensor[i] = i == 2 ? 1.0f : 0.0f;
        o->lin_acc_world[i] = 0.0f;
        o->bias_dps[i] = o->initial_bias_dps[i];
        o->acc_bias_g[i] = 0.0f;
        o->acc_aty[i] = 0.0;
    }
    for (int i = 0; i < 6; i++)
        o->acc_ata[i] = 0.0;
    o->acc_since_solve = 0;
    o->acc_rest_count = 0;
    o->bias_n = 0.0f;
    o->still = false;
    o->accel_rejected = false;
    o->samples = 0;
    o->still_count = 0;
    o->rejected_count = 0;
}

/* Sets q to the smallest rotation taking the measured up direction onto
 * world z: the best guess of tilt from one sample, with heading zero. */
static void set_from_accel(orient_t *o, float ax, float ay, float az)
{
    float norm = sqrtf(ax * ax + ay * ay + az * az);
    if (!(norm > 0.0f))
        return;
    ax /= norm;
    ay /= norm;
    az /= norm;
    /* q = normalise(1 + u.z, u x z) with u the measured up direction. */
    float w = 1.0f + az, x = ay, y = -ax;
    float n = sqrtf(w * w + x * x + y * y);
    if (n < 1e-6f) {
        /* Upside down: any half turn about a horizontal axis will do. */
        o->q[0] = 0.0f;
        o->q[1] = 1.0f;
        o->q[2] = 0.0f;
        o->q[3] = 0.0f;
        return;
    }
    o->q[0] = w / n;
    o->q[1] = x / n;
    o->q[2] = y / n;
    o->q[3] = 0.0f;
}

/* Adds one rest sample's smoothed reading m to the accelerometer bias's
 * least squares: at rest |m - b| = 1 g, so to first order in b,
 * u . b = |m| - 1 with u = m / |m|. Rests in different orientations see
 * different components of b. */
static void acc_bias_add(orient_t *o, const float m[3])
{
    double n = sqrt((double)m[0] * m[0] + (double)m[1] * m[1] + (double)m[2] * m[2]);
    if (!(n > 0.5))
        return;
    double u[3] = {m[0] / n, m[1] / n, m[2] / n}, r = n - 1.0;
    o->acc_ata[0] += u[0] * u[0];
    o->acc_ata[1] += u[0] * u[1];
    o->acc_ata[2] += u[0] * u[2];
    o->acc_ata[3] += u[1] * u[1];
    o->acc_ata[4] += u[1] * u[2];
    o->acc_ata[5] += u[2] * u[2];
    for (int i = 0; i < 3; i++)
        o->acc_aty[i] += u[i] * r;
    o->acc_since_solve++;
}

/* b = (prior I + sum u u^T)^-1 sum u r, its length capped. */
static void acc_bias_solve(orient_t *o)
{
    o->acc_since_solve = 0;
    const double *s = o->acc_ata;
    double a = s[0] + o->acc_prior, b = s[1], c = s[2], d = s[3] + o->acc_prior, e = s[4],
           f = s[5] + o->acc_prior;
    /* Cofactors of the symmetric matrix [a b c; b d e; c e f]. */
    double c00 = d * f - e * e, c01 = c * e - b * f, c02 = b * e - c * d;
    double c11 = a * f - c * c, c12 = b * c - a * e, c22 = a * d - b * b;
    double det = a * c00 + b * c01 + c * c02;
    if (!(det > 0.0))
        return;
    const double *y = o->acc_aty;
    double x[3] = {(c00 * y[0] + c01 * y[1] + c02 * y[2]) / det,
                   (c01 * y[0] + c11 * y[1] + c12 * y[2]) / det,
                   (c02 * y[0] + c12 * y[1] + c22 * y[2]) / det};
    double len = sqrt(x[0] * x[0] + x[1] * x[1] + x[2] * x[2]);
    double k = len > o->acc_max_g ? o->acc_max_g / len : 1.0;
    for (int i = 0; i < 3; i++)
        o->acc_bias_g[i] = (float)(x[i] * k);
}

void orient_step(orient_t *o, const float gyr_dps[3], const float acc_raw_g[3])
{
    const float acc_g[3] = {acc_raw_g[0] - o->acc_bias_g[0], acc_raw_g[1] - o->acc_bias_g[1],
                            acc_raw_g[2] - o->acc_bias_g[2]};
    float ax = acc_g[0], ay = acc_g[1], az = acc_g[2];
    float a_sq = ax * ax + ay * ay + az * az;

    if (o->samples++ == 0) {
        set_from_accel(o, ax, ay, az);
        for (int i = 0; i < 3; i++) {
            o->still_acc[i] = acc_raw_g[i];
            o->still_gyr[i] = gyr_dps[i];
            o->steady_gyr[i] = gyr_dps[i];
            o->break_acc[i] = acc_raw_g[i];
        }
    }
    for (int i = 0; i < 3; i++) {
        o->still_acc[i] += o->still_alpha * (acc_raw_g[i] - o->still_acc[i]);
        o->still_gyr[i] += o->still_alpha * (gyr_dps[i] - o->still_gyr[i]);
        o->steady_gyr[i] += o->steady_alpha * (gyr_dps[i] - o->steady_gyr[i]);
        o->break_acc[i] += o->break_alpha * (acc_raw_g[i] - o->break_acc[i]);
    }
    /* The accelerometer reading that ends a rest at once, smoothed over
     * still_break_s (the gyro's is raw). */
    const float ba[3] = {o->break_acc[0] - o->acc_bias_g[0], o->break_acc[1] - o->acc_bias_g[1],
                         o->break_acc[2] - o->acc_bias_g[2]};
    float ba_sq = ba[0] * ba[0] + ba[1] * ba[1] + ba[2] * ba[2];
    const float sa[3] = {o->still_acc[0] - o->acc_bias_g[0], o->still_acc[1] - o->acc_bias_g[1],
                         o->still_acc[2] - o->acc_bias_g[2]};
    const float *sg = o->still_gyr;
    float sa_sq = sa[0] * sa[0] + sa[1] * sa[1] + sa[2] * sa[2];
    float sg_sq = sg[0] * sg[0] + sg[1] * sg[1] + sg[2] * sg[2];
    float g_sq = gyr_dps[0] * gyr_dps[0] + gyr_dps[1] * gyr_dps[1] + gyr_dps[2] * gyr_dps[2];
    /* Or steady: a gyroscope whose bias is over still_gyro_dps reads it at
     * rest, plus noise the smoothing has taken out. */
    float ex0 = sg[0] - o->steady_gyr[0], ex1 = sg[1] - o->steady_gyr[1],
          ex2 = sg[2] - o->steady_gyr[2];
    bool steady = ex0 * ex0 + ex1 * ex1 + ex2 * ex2 < o->steady_gyro_sq;
    bool still_now = (sg_sq < o->still_gyro_sq || steady) && sa_sq > o->still_lo_sq &&
                     sa_sq < o->still_hi_sq && g_sq < o->moving_gyro_sq &&
                     ba_sq > o->moving_lo_sq && ba_sq < o->moving_hi_sq;
    o->still = run_held(&o->still_count, still_now, o->still_needed);
    if (o->acc_bias_on) {
        /* The bias's own rest test: the gyro's less its bias, the
         * accelerometer's bands widened by the cap (a large bias would keep
         * the still test from ever holding). */
        float bx = sg[0] - o->bias_dps[0], by = sg[1] - o->bias_dps[1], bz = sg[2] - o->bias_dps[2];
        float rx = gyr_dps[0] - o->bias_dps[0], ry = gyr_dps[1] - o->bias_dps[1],
              rz = gyr_dps[2] - o->bias_dps[2];
        const float *m = o->still_acc;
        float m_sq = m[0] * m[0] + m[1] * m[1] + m[2] * m[2];
        float r_sq = acc_raw_g[0] * acc_raw_g[0] + acc_raw_g[1] * acc_raw_g[1] +
                     acc_raw_g[2] * acc_raw_g[2];
        bool rest = bx * bx + by * by + bz * bz < o->still_gyro_sq &&
                    rx * rx + ry * ry + rz * rz < o->moving_gyro_sq && m_sq > o->acc_rest_lo_sq &&
                    m_sq < o->acc_rest_hi_sq && r_sq > o->acc_raw_lo_sq && r_sq < o->acc_raw_hi_sq;
        rest = run_held(&o->acc_rest_count, rest, o->acc_rest_needed);
        if (rest)
            acc_bias_add(o, o->still_acc);
        if (o->acc_since_solve > 0 && (!rest || o->acc_since_solve >= o->acc_solve_every))
            acc_bias_solve(o);
    }
    if (o->still) {
        /* At rest the gyro reads its bias plus noise; averaging it is the
         * only way to see the bias about the vertical axis. */
        o->bias_n += 1.0f;
        float alpha = fmaxf(1.0f / (o->bias_n + o->bias_prior_n), o->bias_alpha);
        for (int i = 0; i < 3; i++)
            o->bias_dps[i] += alpha * (gyr_dps[i] - o->bias_dps[i]);
    }

    float wx = (gyr_dps[0] - o->bias_dps[0]) * o->deg_to_rad;
    float wy = (gyr_dps[1] - o->bias_dps[1]) * o->deg_to_rad;
    float wz = (gyr_dps[2] - o->bias_dps[2]) * o->deg_to_rad;
    float qw = o->q[0], qx = o->q[1], qy = o->q[2], qz = o->q[3];

    /* Predicted up direction in sensor axes: the third row of R(q). */
    float vx = 2.0f * (qx * qz - qw * qy);
    float vy = 2.0f * (qy * qz + qw * qx);
    float vz = 1.0f - 2.0f * (qx * qx + qy * qy);

    o->accel_rejected = true;
    if (a_sq > 0.0f) {
        float inv = 1.0f / sqrtf(a_sq);
        float ux = ax * inv, uy = ay * inv, uz = az * inv;
        /* e = u x v: its direction is the axis turning v onto u and its
         * length the sine of the angle between them. */
        float ex = uy * vz - uz * vy;
        float ey = uz * vx - ux * vz;
        float ez = ux * vy - uy * vx;
        bool magnitude_ok = a_sq >= o->reject_lo_sq && a_sq <= o->reject_hi_sq;
        bool angle_ok = ex * ex + ey * ey + ez * ez < o->reject_sin * o->reject_sin &&
                        ux * vx + uy * vy + uz * vz > 0.0f;
        bool use = magnitude_ok && (angle_ok || o->rejected_count >= o->recovery_needed);
        if (use) {
            wx += o->kp * ex;
            wy += o->kp * ey;
            wz += o->kp * ez;
            o->accel_rejected = false;
        }
        if (use && angle_ok)
            o->rejected_count = 0;
        else if (!use && o->rejected_count < UINT32_MAX)
            o->rejected_count++;
    }

    /* q' = q + dt/2 q (0, w), then renormalise. */
    float dw = -qx * wx - qy * wy - qz * wz;
    float dx = qw * wx + qy * wz - qz * wy;
    float dy = qw * wy - qx * wz + qz * wx;
    float dz = qw * wz + qx * wy - qy * wx;
    qw += o->half_dt * dw;
    qx += o->half_dt * dx;
    qy += o->half_dt * dy;
    qz += o->half_dt * dz;
    float inv_n = 1.0f / sqrtf(qw * qw + qx * qx + qy * qy + qz * qz);
    qw *= inv_n;
    qx *= inv_n;
    qy *= inv_n;
    qz *= inv_n;
    o->q[0] = qw;
    o->q[1] = qx;
    o->q[2] = qy;
    o->q[3] = qz;

    /* Rows of R(q); R maps sensor to world. */
    float r00 = 1.0f - 2.0f * (qy * qy + qz * qz), r01 = 2.0f * (qx * qy - qw * qz),
          r02 = 2.0f * (qx * qz + qw * qy);
    float r10 = 2.0f * (qx * qy + qw * qz), r11 = 1.0f - 2.0f * (qx * qx + qz * qz),
          r12 = 2.0f * (qy * qz - qw * qx);
    float r20 = 2.0f * (qx * qz - qw * qy), r21 = 2.0f * (qy * qz + qw * qx),
          r22 = 1.0f - 2.0f * (qx * qx + qy * qy);
    o->up_sensor[0] = r20;
    o->up_sensor[1] = r21;
    o->up_sensor[2] = r22;
    const float g = (float)ORIENT_G_MPS2;
    o->lin_acc_world[0] = (r00 * ax + r01 * ay + r02 * az) * g;
    o->lin_acc_world[1] = (r10 * ax + r11 * ay + r12 * az) * g;
    o->lin_acc_world[2] = (r20 * ax + r21 * ay + r22 * az - 1.0f) * g;
}

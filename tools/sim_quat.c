#include "sim_quat.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

double vec3_dot(const double a[3], const double b[3])
{
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

void vec3_cross(const double a[3], const double b[3], double out[3])
{
    double r[3] = {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
    memcpy(out, r, sizeof r);
}

double vec3_norm(const double a[3])
{
    return sqrt(vec3_dot(a, a));
}

void vec3_normalize(double a[3])
{
    double len = vec3_norm(a);
    if (len > 0.0) {
        a[0] /= len;
        a[1] /= len;
        a[2] /= len;
    }
}

void vec3_set(double out[3], double x, double y, double z)
{
    out[0] = x;
    out[1] = y;
    out[2] = z;
}

void quat_mul(const double a[4], const double b[4], double out[4])
{
    double r[4] = {
        a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3],
        a[0] * b[1] + a[1] * b[0] + a[2] * b[3] - a[3] * b[2],
        a[0] * b[2] - a[1] * b[3] + a[2] * b[0] + a[3] * b[1],
        a[0] * b[3] + a[1] * b[2] - a[2] * b[1] + a[3] * b[0],
    };
    memcpy(out, r, sizeof r);
}

void quat_conj(const double q[4], double out[4])
{
    out[0] = q[0];
    out[1] = -q[1];
    out[2] = -q[2];
    out[3] = -q[3];
}

void quat_axis_angle(const double axis[3], double angle, double out[4])
{
    double h = 0.5 * angle, sh = sin(h);
    out[0] = cos(h);
    out[1] = axis[0] * sh;
    out[2] = axis[1] * sh;
    out[3] = axis[2] * sh;
}

void quat_normalize(double q[4])
{
    double len = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
    for (int i = 0; i < 4; i++)
        q[i] /= len;
}

/* Rotation vector (axis times angle, radians) of a unit quaternion, taking
 * the short way round. */
void quat_log(const double q[4], double out[3])
{
    double w = q[0], v[3] = {q[1], q[2], q[3]};
    if (w < 0.0) {
        w = -w;
        v[0] = -v[0];
        v[1] = -v[1];
        v[2] = -v[2];
    }
    double sv = vec3_norm(v);
    double k = sv > 1e-12 ? 2.0 * atan2(sv, w) / sv : 2.0;
    vec3_set(out, v[0] * k, v[1] * k, v[2] * k);
}

/* Quaternion of the rotation whose columns are the body axes in the world. */
void quat_from_axes(const double x[3], const double y[3], const double z[3], double q[4])
{
    double m00 = x[0], m11 = y[1], m22 = z[2], tr = m00 + m11 + m22;
    if (tr > 0.0) {
        double r = 2.0 * sqrt(1.0 + tr);
        q[0] = 0.25 * r;
        q[1] = (y[2] - z[1]) / r;
        q[2] = (z[0] - x[2]) / r;
        q[3] = (x[1] - y[0]) / r;
    } else if (m00 > m11 && m00 > m22) {
        double r = 2.0 * sqrt(1.0 + m00 - m11 - m22);
        q[0] = (y[2] - z[1]) / r;
        q[1] = 0.25 * r;
        q[2] = (y[0] + x[1]) / r;
        q[3] = (z[0] + x[2]) / r;
    } else if (m11 > m22) {
        double r = 2.0 * sqrt(1.0 + m11 - m00 - m22);
        q[0] = (z[0] - x[2]) / r;
        q[1] = (y[0] + x[1]) / r;
        q[2] = 0.25 * r;
        q[3] = (z[1] + y[2]) / r;
    } else {
        double r = 2.0 * sqrt(1.0 + m22 - m00 - m11);
        q[0] = (x[1] - y[0]) / r;
        q[1] = (z[0] + x[2]) / r;
        q[2] = (z[1] + y[2]) / r;
        q[3] = 0.25 * r;
    }
    quat_normalize(q);
}

/* World vector w into the body frame of orientation q (body to world). */
void quat_rotate_inv(const double q[4], const double w[3], double out[3])
{
    double a = q[0], b = q[1], c = q[2], d = q[3];
    double r00 = 1 - 2 * (c * c + d * d), r01 = 2 * (b * c - a * d), r02 = 2 * (b * d + a * c);
    double r10 = 2 * (b * c + a * d), r11 = 1 - 2 * (b * b + d * d), r12 = 2 * (c * d - a * b);
    double r20 = 2 * (b * d - a * c), r21 = 2 * (c * d + a * b), r22 = 1 - 2 * (b * b + c * c);
    double r[3] = {r00 * w[0] + r10 * w[1] + r20 * w[2], r01 * w[0] + r11 * w[1] + r21 * w[2],
                   r02 * w[0] + r12 * w[1] + r22 * w[2]};
    memcpy(out, r, sizeof r);
}

/* q turned by the constant rate w (rad/s) for dt seconds, in the world
 * frame (exp(w dt / 2) q) or the body frame (q exp(w dt / 2)). */
static void quat_turn(double q[4], const double w[3], double dt, bool body)
{
    double wn = sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
    if (wn > 0.0) {
        double half = 0.5 * wn * dt, sn = sin(half) / wn, cs = cos(half);
        double dq[4] = {cs, w[0] * sn, w[1] * sn, w[2] * sn}, r[4];
        if (body)
            quat_mul(q, dq, r);
        else
            quat_mul(dq, q, r);
        double inv = 1.0 / sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2] + r[3] * r[3]);
        for (int i = 0; i < 4; i++)
            q[i] = r[i] * inv;
    }
}

void quat_turn_world(double q[4], const double w[3], double dt)
{
    quat_turn(q, w, dt, false);
}

void quat_turn_body(double q[4], const double w[3], double dt)
{
    quat_turn(q, w, dt, true);
}

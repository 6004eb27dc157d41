/* sim_quat: the 3-vector and quaternion arithmetic the simulators share
 * (double precision; quaternions are w, x, y, z and rotate body to world).
 * Pure functions on caller arrays; an output may alias an input where the
 * function builds its result before writing it (vec3_cross, quat_mul,
 * quat_rotate_inv).
 */
#ifndef MASSAGED_SIM_QUAT_H
#define MASSAGED_SIM_QUAT_H

double vec3_dot(const double a[3], const double b[3]);
void vec3_cross(const double a[3], const double b[3], double out[3]);
double vec3_norm(const double a[3]);
/* Scales a to unit length (a zero vector is left as it is). */
void vec3_normalize(double a[3]);
void vec3_set(double out[3], double x, double y, double z);
/* out = a b: b first, then a. */
void quat_mul(const double a[4], const double b[4], double out[4]);
void quat_conj(const double q[4], double out[4]);
/* The rotation by angle (radians) about the unit axis. */
void quat_axis_angle(const double axis[3], double angle, double out[4]);
void quat_normalize(double q[4]);
/* Rotation vector (axis times angle, radians) of a unit quaternion, taking
 * the short way round. */
void quat_log(const double q[4], double out[3]);
/* Quaternion of the rotation whose columns are the body axes in the world. */
void quat_from_axes(const double x[3], const double y[3], const double z[3], double q[4]);
/* World vector w into the body frame of orientation q (body to world). */
void quat_rotate_inv(const double q[4], const double w[3], double out[3]);

/* q <- exp(w dt / 2) q, renormalised: turned by the constant world-frame
 * rate w (rad/s) for dt seconds. */
void quat_turn_world(double q[4], const double w[3], double dt);
/* q <- q exp(w dt / 2), renormalised: turned by the body-frame rate w. */
void quat_turn_body(double q[4], const double w[3], double dt);

#endif

/* median: the median of a few values, sorted in place by insertion (for the
 * short arrays of the clock's robust fit and the stroke detector's pooled
 * slopes: no allocation, and fast below a few dozen values).
 */
#ifndef MASSAGED_MEDIAN_H
#define MASSAGED_MEDIAN_H

/* Sorts v[0..n) ascending in place and returns its median: the middle value,
 * or for even n the mean of the middle two (half their sum, computed in the
 * values' own type). n >= 1. */
double median_sort(double *v, unsigned n);
float median_sortf(float *v, unsigned n);

#endif

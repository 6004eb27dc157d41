/* sample: one sensor sample in physical units, as every analysis stage sees it. */
#ifndef MASSAGED_SAMPLE_H
#define MASSAGED_SAMPLE_H

typedef struct {
    double t_dev;  /* seconds, unwrapped device time */
    float p;       /* ball: absolute pressure in pascal; scraper: normal force in newton */
    float acc[3];  /* g, device axes */
    float gyr[3];  /* degrees per second, device axes */
} sample_t;

#endif

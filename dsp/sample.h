/* sample: one sensor sample in physical units, as every analysis stage sees it. */
#ifndef MASSAGED_SAMPLE_H
#define MASSAGED_SAMPLE_H

#include <stdint.h>

typedef struct {
    double t_dev;  /* seconds, unwrapped device time */
    float p;       /* ball: absolute pressure in pascal; scraper: normal force in newton */
    float acc[3];  /* g, device axes */
    float gyr[3];  /* degrees per second, device axes */
} sample_t;

/* The longest loss of samples (lost frames: line noise, a radio's dropout)
 * the detectors are carried across, seconds. Every loss is told to the
 * detector (its _gap); after one at most this long, the chain
 * (daemon/chain.c) gives it the lost samples drawn on a straight line, and
 * what was under way (a hold, a flex, a stroke) carries on. A longer loss
 * ends what was open. */
#define SAMPLE_BRIDGE_MAX_S 0.25

/* Whether a loss of `lost` samples, `period_s` apart, is bridged. */
static inline int sample_loss_bridged(uint64_t lost, double period_s)
{
    return (double)lost * period_s <= SAMPLE_BRIDGE_MAX_S;
}

#endif

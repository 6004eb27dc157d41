/* biquad: second-order IIR sections (RBJ audio-EQ cookbook designs) and
 * cascades of them, including Butterworth low/high-pass of even order.
 *
 * Coefficients and state are double; input and output are float. At 1 kHz
 * the detectors need corners as low as 0.3 Hz, where the poles sit within
 * 0.002 of z = 1: float coefficients would move such a corner by percents
 * and float state would add audible-in-the-data limit cycles, while a
 * double multiply-add costs the same as a float one on the Pi's cores.
 * The structure is transposed direct form II (two state values, best
 * numerical behaviour of the two-state forms for floating point).
 *
 * All functions are pure computation on caller-owned structs; a biquad_t
 * belongs to one thread. The per-sample step functions are inline because
 * they run for every sample of every device.
 */
#ifndef MASSAGED_BIQUAD_H
#define MASSAGED_BIQUAD_H

typedef enum {
    BIQUAD_LOWPASS,  /* unity at DC, -3 dB (Q = 1/sqrt 2) at f0 */
    BIQUAD_HIGHPASS, /* unity at fs/2, zero at DC */
    BIQUAD_BANDPASS, /* constant 0 dB peak gain at f0, bandwidth f0/Q */
    BIQUAD_NOTCH,    /* zero at f0, unity elsewhere, bandwidth f0/Q */
} biquad_type_t;

/* How to design one section. */
typedef struct {
    biquad_type_t type;
    double fs_hz; /* sampling rate, hertz, > 0 */
    double f0_hz; /* corner or centre frequency, hertz, 0 < f0 < fs/2 */
    double q;     /* quality factor, > 0 (0.7071 is Butterworth for LP/HP) */
} biquad_settings_t;

/* Low-pass at 50 Hz, 1 kHz, Q = 1/sqrt 2. */
extern const biquad_settings_t biquad_default;

/* One section: y = b0 x + s1; s1' = b1 x - a1 y + s2; s2' = b2 x - a2 y.
 * Coefficients are normalised (a0 = 1). */
typedef struct {
    double b0, b1, b2, a1, a2;
    double s1, s2; /* state */
} biquad_t;

/* Designs a section from settings and clears its state. Returns 0, or
 * -EINVAL (bq untouched) if fs, f0 or q is out of range. */
int biquad_init(biquad_t *bq, const biquad_settings_t *set);

/* Clears the state (the filter output starts from rest). */
void biquad_reset(biquad_t *bq);

/* Analytic magnitude response |H(e^{j 2 pi f / fs})| of a section at f_hz. */
double biquad_magnitude(const biquad_t *bq, double f_hz, double fs_hz);

/* Filters one sample. */
static inline float biquad_step(biquad_t *bq, float x)
{
    double xd = x;
    double y = bq->b0 * xd + bq->s1;
    bq->s1 = bq->b1 * xd - bq->a1 * y + bq->s2;
    bq->s2 = bq->b2 * xd - bq->a2 * y;
    return (float)y;
}

/* Most sections a cascade holds: order-8 low-pass plus order-8 high-pass. */
#define BIQUAD_MAX_SECTIONS 8

/* Sections applied in order. */
typedef struct {
    int n_sections;
    biquad_t section[BIQUAD_MAX_SECTIONS];
} biquad_cascade_t;

/* Empties a cascade (it then passes samples through unchanged). */
void biquad_cascade_init(biquad_cascade_t *c);

/* Appends one section designed from set. Returns 0, -EINVAL for bad
 * settings, or -ENOSPC when the cascade is full. */
int biquad_cascade_add(biquad_cascade_t *c, const biquad_settings_t *set);

/* Appends an order-`order` Butterworth low-pass or high-pass (type must be
 * BIQUAD_LOWPASS or BIQUAD_HIGHPASS) with its -3 dB corner at fc_hz, as
 * order/2 sections with Q_k = 1 / (2 sin((2k-1) pi / (2 order))). order is
 * even, 2..8 (2 and 4 are the ones the detectors use). A band-pass is a
 * high-pass appended to a low-pass. Returns 0, -EINVAL, or -ENOSPC (the
 * cascade is left unchanged). */
int biquad_cascade_butterworth(biquad_cascade_t *c, biquad_type_t type, double fs_hz, double fc_hz,
                               int order);

/* Clears the state of every section. */
void biquad_cascade_reset(biquad_cascade_t *c);

/* Group delay at DC in samples (how far a slow edge lags), from the
 * coefficients: (b1 + 2 b2) / B(1) - (a1 + 2 a2) / A(1). NAN when the
 * section blocks DC (a high-pass). */
double biquad_delay_dc(const biquad_t *bq);

/* The cascade's group delay at DC in samples: the sum of its sections'. */
double biquad_cascade_delay_dc(const biquad_cascade_t *c);

/* Analytic magnitude of the whole cascade at f_hz. */
double biquad_cascade_magnitude(const biquad_cascade_t *c, double f_hz, double fs_hz);

/* Filters one sample through every section. */
static inline float biquad_cascade_step(biquad_cascade_t *c, float x)
{
    /* The intermediate values stay double between sections so a cascade
     * rounds once, at its output. */
    double v = x;
    for (int i = 0; i < c->n_sections; i++) {
        biquad_t *bq = &c->section[i];
        double y = bq->b0 * v + bq->s1;
        bq->s1 = bq->b1 * v - bq->a1 * y + bq->s2;
        bq->s2 = bq->b2 * v - bq->a2 * y;
        v = y;
    }
    return (float)v;
}

#endif

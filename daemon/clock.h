/* clock: a device's clock, from the 32-bit t_us on the wire to sample indices
 * and host (Unix) time.
 *
 * Three independent parts, each a plain struct the caller owns, used by one
 * thread (the device's reader or analysis thread). None allocates; all state
 * is fixed-size. docs/CLOCK.md explains the model, its parameters and the
 * error measured by tests/test_clock.c.
 *
 *   clock_unwrap_t  uint32 t_us (wraps every 2^32 us, ~71.6 min) -> continuous
 *                   uint64 device microseconds, monotonic across device resets.
 *   clock_index_t   a SAMPLES frame's device time -> index of its first sample
 *                   counted from the first sample seen, with lost and
 *                   overlapping samples counted.
 *   clock_map_t     device seconds -> host CLOCK_REALTIME seconds, a line
 *                   fitted to the lower envelope of the frames' arrival
 *                   delays, so USB scheduling jitter and stalls drop out.
 */
#ifndef MASSAGED_CLOCK_H
#define MASSAGED_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

/* ---------------------------------------------------------------- unwrap */

/* Unwrapping state of one device. All fields are read-only for the caller;
 * the counters may be reported in status. */
typedef struct {
    bool any;                /* a value has been returned since init */
    bool started;            /* a value has been seen in this epoch */
    uint32_t ref_raw;        /* t_us of the furthest frame of this epoch */
    uint64_t ref_us;         /* its unwrapped value, microseconds */
    uint64_t floor_us;       /* no value of this epoch is returned below this */
    uint64_t max_us;         /* largest value returned so far, all epochs */
    uint32_t epochs;         /* device resets signalled with clock_unwrap_reset */
    uint64_t wraps;          /* forward steps that crossed 0xFFFFFFFF -> 0 */
    uint64_t backward_steps; /* values earlier than the furthest one seen */
} clock_unwrap_t;

/* Prepares an unwrapper for a device's first frame. */
void clock_unwrap_init(clock_unwrap_t *u);

/* Returns the continuous device time, in microseconds, of a frame's t_us.
 *
 * The first value ever maps to itself. Each later value is read as the step
 * from the furthest t_us seen so far, modulo 2^32, taken as the nearer of
 * forward and backward: a step of less than 2^31 us (~35.8 min) is forward
 * time and is added, wrapping included; a larger one is a backward step (a
 * stale or corrupt frame; the serial link never reorders). A backward step
 * returns that earlier time as it is, counts it in backward_steps and leaves
 * the reference at the furthest time, so one stray value neither moves the
 * timeline nor fakes a wrap; it is never returned below the start of its
 * epoch. Gaps of 2^31 us or more without frames are ambiguous: the caller
 * must call clock_unwrap_reset after such a gap (a reconnection). */
uint64_t clock_unwrap(clock_unwrap_t *u, uint32_t t_us);

/* Starts a new epoch after a device reset (reboot, reconnection): the next
 * value maps to the largest value returned so far plus 1 us, and the epoch
 * continues from there, so device time stays strictly increasing across
 * resets. The device clock says nothing about how long the reset took;
 * t_host carries real elapsed time. */
void clock_unwrap_reset(clock_unwrap_t *u);

/* ----------------------------------------------------------------- index */

/* Sample indexing state of one device at one sample rate. Fields are
 * read-only for the caller. */
typedef struct {
    uint32_t rate_hz;         /* samples per second of device time */
    bool started;             /* the first frame has been seen */
    uint64_t origin_us;       /* device time of sample 0, microseconds */
    uint64_t next_index;      /* one past the highest sample index seen */
    uint64_t frames;          /* frames indexed */
    uint64_t samples_lost;    /* samples missing between frames */
    uint64_t gaps;            /* frames that followed a gap */
    uint64_t overlap_frames;  /* frames that started before next_index */
    uint64_t overlap_samples; /* samples of those frames below next_index */
    uint64_t stamps_off;      /* frames placed by seq where their t_us alone would not */
    uint32_t max_jitter_us;   /* largest |t_us - time of its index| seen, us */
} clock_index_t;

/* How far a frame's t_us may be off the time its samples would continue at
 * and still be placed there by the count of samples before it
 * (clock_index_next); half a sample, if that is more. */
#define CLOCK_INDEX_SLACK_US 5000u

/* Prepares indexing at rate_hz samples per second (from HELLO; > 0, at most
 * 65535). Call again when the rate changes or the device was reset: indices
 * then restart at 0. */
void clock_index_init(clock_index_t *x, uint32_t rate_hz);

/* Indexes one SAMPLES frame of count samples whose first sample was taken at
 * t_dev_us (unwrapped device microseconds). Stores in *i0 the index of that
 * first sample, counted from the first sample of the first frame (index 0):
 * round((t_dev_us - origin) * rate_hz / 1e6), exactly in integers, so the
 * device may truncate or round its t_us and indices never drift. Stores in
 * *lost the samples missing between the previous frames and this one
 * (0 for the first frame or an overlap); both pointers may be NULL.
 * Returns 0, -EINVAL if count is 0, or -ERANGE if the frame starts before
 * the end of samples already indexed (a repeated or stale frame): *i0 is
 * still its index from its time (0 if it lies before sample 0), the overlap
 * is counted, and the high-water mark is kept, so the next in-order frame
 * reports no false loss. */
int clock_index_frame(clock_index_t *x, uint64_t t_dev_us, unsigned count, uint64_t *i0,
                      uint64_t *lost);

/* Indexes a SAMPLES frame, as clock_index_frame does, knowing from `seq`
 * whether it follows the previous SAMPLES frame with no frame missing
 * between them (follows). Samples are never sent twice, so a frame stamped
 * up to CLOCK_INDEX_SLACK_US (or half a sample) before next_index's time
 * continues the samples indexed: *i0 is next_index and *lost 0; so is a frame
 * that follows and is stamped up to that much after it. A frame after a gap
 * in `seq` stamped after that time is indexed by its time (the missing frame
 * may have held samples), as is a t_us further off either way (the device's
 * own buffer overflowed, or its clock does not keep to its rate), the first
 * frame, and one before the origin. Returns 1 if the frame was placed where
 * t_us alone would not put it (counted in stamps_off; its first sample's
 * time is then clock_index_time_us(*i0)), else as clock_index_frame. The
 * distance of a placed frame's t_us from its index's time counts in
 * max_jitter_us. */
int clock_index_next(clock_index_t *x, uint64_t t_dev_us, unsigned count, bool follows,
                     uint64_t *i0, uint64_t *lost);

/* Device time of sample index, in microseconds, rounded to nearest:
 * origin + round(index * 1e6 / rate_hz), computed from the index alone. */
uint64_t clock_index_time_us(const clock_index_t *x, uint64_t index);

/* The same in seconds, without the microsecond rounding. */
double clock_index_time_s(const clock_index_t *x, uint64_t index);

/* ------------------------------------------------------------ host map */

#define CLOCK_MAP_MAX_WINDOWS 64

/* Settings of the host mapping; start from clock_map_default. */
typedef struct {
    double window_s;         /* device seconds per envelope window (1.0) */
    unsigned windows;        /* windows in the fit, 2 .. CLOCK_MAP_MAX_WINDOWS (30) */
    double step_threshold_s; /* residual that marks a host clock step (0.1) */
    double step_confirm_s;   /* how long, in host and device seconds, every frame's
                                residual must stay beyond it (1.0) */
    double max_drift_ppm;    /* |drift| the fit may report (500) */
    double latency_s;        /* fixed transport delay subtracted from the envelope,
                                if known (0) */
} clock_map_settings_t;

extern const clock_map_settings_t clock_map_default;

/* One envelope point: device seconds since ref_dev_s, and host minus device
 * seconds since the reference pair (small numbers, full double precision). */
typedef struct {
    double x; /* seconds */
    double y; /* seconds */
    double e; /* expected height of this minimum above the envelope, seconds */
} clock_map_point_t;

/* Before the first fit: the model's alpha is the least y - beta*x seen (the
 * fastest delivery), at alpha_x; sum_v / n is the mean of y - beta*x. */
typedef struct {
    double alpha_x;
    double sum_v;
    uint64_t n;
} clock_map_warm_t;

/* The current window: its index, its fastest frame, its frames' count and
 * sum of y - beta*x. */
typedef struct {
    int64_t index;
    bool has_point;
    clock_map_point_t min;
    uint64_t n;
    double sum_v;
} clock_map_window_t;

/* Host mapping state of one device. Fields are read-only for the caller. */
typedef struct {
    clock_map_settings_t s;

    bool have_ref;     /* a frame has been seen since init/reset/restart */
    double ref_dev_s;  /* reference device time, seconds */
    double ref_host_s; /* reference host time, seconds */
    double last_x;     /* device time of the latest frame, relative, s */

    /* The model: host = ref_host + x + alpha + beta * x - latency, x = dev - ref_dev. */
    double alpha;    /* seconds */
    double beta;     /* host seconds per device second, minus 1 */
    bool fitted;     /* alpha, beta come from a fit of >= 2 windows */
    bool have_slope; /* beta was fitted (now or before a reset or restart) */
    bool have_prior; /* prior_beta holds the slope from before a reset or restart */
    double prior_beta;

    clock_map_warm_t warm;
    clock_map_window_t win;

    /* Completed windows' fastest frames, oldest first from ring_head. */
    clock_map_point_t ring[CLOCK_MAP_MAX_WINDOWS];
    unsigned ring_head, ring_count;

    /* Quality of the last fit. */
    unsigned fit_n;   /* windows kept */
    double fit_xbar;  /* their mean x */
    double fit_sxx;   /* their sum of (x - xbar)^2 */
    double fit_sigma; /* RMS residual of the kept windows, seconds */

    /* A run of frames whose residuals all lie beyond the step threshold. */
    int run_sign;          /* 0 none, +1 late, -1 early */
    double run_host0_s;    /* host time of its first frame */
    double run_dev0_s;     /* device time of its first frame */
    double run_min_dev_s;  /* its fastest frame (device time) */
    double run_min_host_s; /* and host time */
    double run_min_v;

    uint64_t frames;          /* frames observed */
    uint64_t frames_ignored;  /* non-finite input */
    uint64_t restarts;        /* host clock steps followed */
    uint64_t windows_trimmed; /* window minima rejected by the robust fits, summed */
} clock_map_t;

/* Prepares a mapping; s NULL means clock_map_default. Settings out of range
 * are clamped. */
void clock_map_init(clock_map_t *m, const clock_map_settings_t *s);

/* Forgets all points after a device clock reset (new unwrap epoch). The
 * drift is kept as the starting slope: it is the same pair of oscillators. */
void clock_map_reset(clock_map_t *m);

/* Feeds one frame: t_dev_s is the device time, in seconds, of the frame's
 * LAST sample (the one just taken when the frame was sent, so the delay from
 * it to the send is smallest and does not depend on the frame's count), and
 * t_host_arrival_s the host CLOCK_REALTIME, in seconds, when the frame's
 * bytes were read. A run of frames all late or all early by more than
 * step_threshold_s for step_confirm_s of both host and device time is taken
 * as a host clock step: the fit restarts from the run's fastest frame,
 * keeping the drift. Non-finite inputs are counted and ignored. */
void clock_map_observe(clock_map_t *m, double t_dev_s, double t_host_arrival_s);

/* Host time, Unix seconds, of device time t_dev_s (seconds); NAN before the
 * first frame. The result includes the fixed part of the transport delay
 * that one-way timing cannot see, minus settings latency_s. */
double clock_map_to_host(const clock_map_t *m, double t_dev_s);

/* host - device seconds at the latest frame; NAN before the first frame. */
double clock_map_offset_s(const clock_map_t *m);

/* Host seconds per device second, minus 1, in parts per million (positive:
 * the device clock runs slow); 0 until fitted unless kept from a reset. */
double clock_map_drift_ppm(const clock_map_t *m);

/* About one standard deviation of clock_map_to_host at the latest frame
 * against the lower envelope of delays, seconds (the fixed transport delay
 * excluded); INFINITY before the first frame. */
double clock_map_uncertainty_s(const clock_map_t *m);

/* True once the line has been fitted through at least two windows. */
bool clock_map_ready(const clock_map_t *m);

#endif

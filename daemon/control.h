/* control: the LabRecorder-compatible remote control socket ([control] rcs,
 * docs/RECORDING.md "Driving a recording from a study").
 *
 * Study scripts (PsychoPy, MATLAB, Python) start, stop and name recordings
 * by sending LabRecorder's remote-control lines over TCP: `select all`,
 * `select none`, `update`, `filename {root:..} {template:..}
 * {participant:..} {session:..} {task:..} {run:..} {acquisition:..}
 * {modality:..}`, `start`, `stop`, and massaged's own `status`. Each line
 * is answered as LabRecorder answers it, "OK" without a line end; a line
 * massaged cannot act on is answered "ERROR: why" (no line end either) and
 * changes nothing.
 *
 * The control thread owns the listening socket, every client and the
 * study's state (root, template, labels, run, modality). It serves any
 * number of clients up to CONTROL_MAX_CLIENTS with poll(2) and non-blocking
 * sockets, so a client that connects and says nothing, or never reads its
 * replies, blocks nobody. A start or stop reaches the recorder through the
 * pipeline thread (pipeline_record), in order with the data.
 */
#ifndef MASSAGED_CONTROL_H
#define MASSAGED_CONTROL_H

#include "pipeline.h"

#define CONTROL_MAX_CLIENTS 32
#define CONTROL_LINE_MAX 8192 /* bytes of one command line, its '\n' included */

typedef struct control control_t;

/* Binds rcs (HOST:PORT) and starts the control thread. default_root is the
 * study root until a `filename {root:..}` gives one ("" for none). The
 * pipeline must outlive the control. Returns NULL with *err set (negative
 * errno) after logging why. Main thread. */
control_t *control_start(const char *rcs, const char *default_root, pipeline_t *pipeline,
                         int *err);

/* Closes every client and the socket, joins the thread. A recording in
 * progress goes on (the pipeline's stop closes it). Accepts NULL and NULLs
 * the caller's pointer. Main thread. */
void control_stop(control_t **control);

#endif

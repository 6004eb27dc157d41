/* study: the labels a study gives the current recording (docs/RECORDING.md).
 *
 * A study script names what it records through the control socket
 * ([control] rcs, LabRecorder's `filename {participant:..} {session:..} ...`)
 * or massaged-ctl; [history] participant gives the participant when no study
 * does. The labels travel with what they describe: the XDF files' stream
 * headers and the history database's session rows. Plain data, copied by
 * value between threads (never shared).
 */
#ifndef MASSAGED_STUDY_H
#define MASSAGED_STUDY_H

#define STUDY_LABEL_MAX 64 /* bytes of each label, with its NUL */

typedef struct {
    char participant[STUDY_LABEL_MAX]; /* BIDS sub- label, "" when none */
    char session[STUDY_LABEL_MAX];     /* BIDS ses- label (a study's session, not a treatment
                                          session), "" when none */
    char task[STUDY_LABEL_MAX];        /* BIDS task- label, "" when none */
    char run[STUDY_LABEL_MAX];         /* BIDS run- label, "" when none */
    char acquisition[STUDY_LABEL_MAX]; /* BIDS acq- label, "" when none */
} study_labels_t;

#endif

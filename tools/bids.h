/* bids: study recordings as a BIDS dataset of the motion datatype (BIDS 1.9
 * and later), for massaged-export --bids (docs/RECORDING.md, "BIDS export").
 *
 * Each XDF file names its study in its stream headers (<study>: participant,
 * session, task, run, acquisition); files with the same labels are one
 * recording (rotation pieces, given in order). A recording becomes, under
 * OUT/sub-P[/ses-S]/motion/, per device (tracking system `tracksys-<device>`)
 * *_motion.tsv (p, acceleration, rotation rate, latency), *_channels.tsv and
 * *_motion.json, and one *_events.tsv with every published event; the
 * dataset gets dataset_description.json, README, participants.tsv, a
 * scans.tsv per subject and session, and the XDF files under sourcedata/.
 * One thread; plain files.
 */
#ifndef MASSAGED_BIDS_H
#define MASSAGED_BIDS_H

/* Writes the dataset for the files at paths[0..n_paths) into out (created
 * if missing; files of the same names are replaced). Returns 0, or a
 * negative errno after printing the file and why to stderr (unreadable or
 * unlabelled recording, a label with nothing BIDS can use, a write error). */
int bids_export(const char *out, char *const *paths, int n_paths);

#endif

/* flag_names: a comma-separated list of names read as bit flags, as the
 * simulators' and the scorers' --hard options take their hard cases.
 */
#ifndef MASSAGED_FLAG_NAMES_H
#define MASSAGED_FLAG_NAMES_H

#include <stddef.h>

/* One name and the flags it stands for (several, for "all"; 0 for "none"). */
typedef struct {
    const char *name;
    int flags;
} flag_name_t;

/* Reads text ("breathing,tremor"; empty entries are skipped) against the
 * n names and stores the OR of their flags in *flags. Returns 0, or -EINVAL
 * for an unknown name (*flags untouched). */
int flag_names_parse(const char *text, const flag_name_t *names, size_t n, int *flags);

#endif

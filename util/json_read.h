/* json_read: reads the daemon's JSON messages (../shared/spec/events.md) in
 * the tools: the subscriber, the dashboard bridge, replay and export.
 *
 * The messages are flat objects of numbers, short strings and arrays of
 * numbers, so a reader that walks one object's top-level members and hands
 * back each value's text is enough; nothing is allocated, the text is only
 * read, and input that is not such an object is refused, never read past
 * its end. The writer is daemon/json (json_string and friends); the names
 * here say "read" so the two never meet.
 */
#ifndef MASSAGED_JSON_READ_H
#define MASSAGED_JSON_READ_H

#include <stdbool.h>
#include <stddef.h>

/* A walk over one object's top-level members. */
typedef struct {
    const char *p;
    const char *end;
} json_read_t;

/* Starts at text (len bytes); false when it does not open an object. */
bool json_read_begin(json_read_t *r, const char *text, size_t len);

/* The next member: its key without quotes, and its value's raw text (a
 * string keeps its quotes, an array or object comes whole). False at the
 * end of the object or at text that is not JSON. */
bool json_read_next(json_read_t *r, const char **key, size_t *key_len, const char **value,
                    size_t *value_len);

/* The raw text of the top-level member `key`; false when there is none. */
bool json_read_get(const char *text, size_t len, const char *key, const char **value,
                   size_t *value_len);

/* The member `key` as a number; false when absent or not a number. */
bool json_read_number(const char *text, size_t len, const char *key, double *out);

/* The member `key` as a string, its escapes \" \\ \/ undone, NUL-terminated
 * into out (cap bytes); false, with out empty, when absent, not a string or
 * too long. */
bool json_read_string(const char *text, size_t len, const char *key, char *out, size_t cap);

/* Up to max numbers of the array member `key` into out; returns how many
 * (0 when absent or not an array of numbers). */
int json_read_numbers(const char *text, size_t len, const char *key, double *out, int max);

/* Where the whitespace at p ends / the value at p ends (at most end). */
const char *json_read_skip_space(const char *p, const char *end);
const char *json_read_skip_value(const char *p, const char *end);

#endif

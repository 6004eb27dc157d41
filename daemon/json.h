/* json: a JSON writer into a caller-owned, fixed-size buffer.
 *
 * The pipeline formats every published message with it, hundreds of times a
 * second per device, so it never allocates: the caller gives the buffer and
 * the writer records overflow instead of growing. Commas and nesting are
 * tracked for the caller; keys and values are written in call order.
 *
 * Why not a library: Debian's JSON libraries (json-c, jansson, cJSON) build a
 * tree of heap-allocated nodes per document, which the per-sample no-allocation
 * rule forbids; a writer this small is simpler than bending one of them.
 */
#ifndef MASSAGED_JSON_H
#define MASSAGED_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define JSON_MAX_DEPTH 8

typedef struct {
    char *buf;
    size_t cap;
    size_t len;
    bool overflow; /* something did not fit: the text is incomplete */
    int depth;
    bool need_comma[JSON_MAX_DEPTH + 1]; /* per nesting level */
} json_t;

/* Starts writing into buf (capacity cap bytes, including the terminating NUL). */
void json_init(json_t *j, char *buf, size_t cap);

/* Starts writing into buf with the n bytes of text first: the start of an
 * object with at least one member, as a writer at depth 1 left it (a part
 * every message of a kind begins with, made once). The next key gets its
 * comma. Overflow when text does not fit. */
void json_init_object_after(json_t *j, char *buf, size_t cap, const char *text, size_t n);

void json_object_begin(json_t *j);
void json_object_end(json_t *j);
void json_array_begin(json_t *j);
void json_array_end(json_t *j);

/* Writes a key inside an object; the next value call writes its value. */
void json_key(json_t *j, const char *key);

/* json_key for a key that is a string literal of plain characters (no '"',
 * '\\' or control character, like every key of events.md): its length is a
 * constant, so the comma, the quoted key and the colon are a few moves
 * instead of a scan and a copy of unknown length. For the raw messages'
 * keys, written hundreds of times a second. */
#define json_key_literal(j, key) json_key_plain((j), "" key, sizeof(key) - 1)

static inline void json_key_plain(json_t *j, const char *key, size_t n)
{
    if (__builtin_expect(j->overflow || j->len + n + 5 > j->cap, 0)) {
        json_key(j, key);
        return;
    }
    char *out = j->buf + j->len;
    *out = ','; /* overwritten by the quote when no comma is needed */
    out += j->need_comma[j->depth];
    *out++ = '"';
    memcpy(out, key, n);
    out += n;
    memcpy(out, "\":", 3); /* with the terminator */
    j->len = (size_t)(out + 2 - j->buf);
    j->need_comma[j->depth] = false; /* the value follows without a comma */
}

/* Values; inside an object each must follow json_key. Strings are escaped. */
void json_string(json_t *j, const char *s);
void json_int(json_t *j, int64_t v);
void json_uint(json_t *j, uint64_t v);
void json_bool(json_t *j, bool v);
void json_null(json_t *j);
/* Writes s, or null where s is empty: how a status says "no file", "no
 * error". */
void json_string_or_null(json_t *j, const char *s);
/* Writes v with `decimals` digits after the point (0..9), trailing zeros
 * trimmed; non-finite values become null, as JSON has no NaN. */
void json_fixed(json_t *j, double v, int decimals);
/* Writes the array [v[0],...,v[n-1]] as one value, each element exactly as
 * json_fixed(v[i], decimals) would write it (same text, same overflow
 * behaviour), without the per-element bookkeeping; v is read, not kept. */
void json_fixed_array(json_t *j, const double *v, size_t n, int decimals);
/* Writes v with 9 significant digits (%.9g); non-finite becomes null. */
void json_double(json_t *j, double v);

/* Returns 0 and the text length in *len when complete and not truncated,
 * -ENOBUFS on overflow, -EINVAL when objects or arrays are still open. */
int json_finish(const json_t *j, size_t *len);

#endif

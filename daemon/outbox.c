#include "outbox.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t topic_len, payload_len;
} record_head_t;

static size_t record_size(const record_head_t *h)
{
    return sizeof *h + h->topic_len + h->payload_len;
}

static void copy_in(outbox_t *o, size_t at, const void *src, size_t n)
{
    at %= o->cap;
    size_t first = n < o->cap - at ? n : o->cap - at;
    memcpy(o->buf + at, src, first);
    memcpy(o->buf, (const unsigned char *)src + first, n - first);
}

static void copy_out(const outbox_t *o, size_t at, void *dst, size_t n)
{
    at %= o->cap;
    size_t first = n < o->cap - at ? n : o->cap - at;
    memcpy(dst, o->buf + at, first);
    memcpy((unsigned char *)dst + first, o->buf, n - first);
}

int outbox_init(outbox_t *o, size_t cap)
{
    memset(o, 0, sizeof *o);
    o->buf = malloc(cap);
    if (!o->buf)
        return -ENOMEM;
    o->cap = cap;
    return 0;
}

void outbox_free(outbox_t *o)
{
    free(o->buf);
    memset(o, 0, sizeof *o);
}

void outbox_pop(outbox_t *o)
{
    assert(o->count > 0);
    record_head_t h;
    copy_out(o, o->head, &h, sizeof h);
    o->head = (o->head + record_size(&h)) % o->cap;
    o->used -= record_size(&h);
    o->count--;
}

unsigned outbox_push(outbox_t *o, const char *topic, const void *payload, size_t len)
{
    size_t topic_len = strlen(topic);
    if (sizeof(record_head_t) + topic_len + len > o->cap)
        return 1;
    record_head_t h = {(uint32_t)topic_len, (uint32_t)len};
    size_t size = record_size(&h);
    unsigned dropped = 0;
    while (o->used + size > o->cap) {
        outbox_pop(o);
        dropped++;
    }
    size_t at = o->head + o->used;
    copy_in(o, at, &h, sizeof h);
    copy_in(o, at + sizeof h, topic, h.topic_len);
    copy_in(o, at + sizeof h + h.topic_len, payload, len);
    o->used += size;
    o->count++;
    return dropped;
}

bool outbox_peek(const outbox_t *o, char *topic, size_t topic_cap, void *payload,
                 size_t payload_cap, size_t *len)
{
    if (o->count == 0)
        return false;
    record_head_t h;
    copy_out(o, o->head, &h, sizeof h);
    if (h.topic_len >= topic_cap || h.payload_len > payload_cap)
        return false;
    copy_out(o, o->head + sizeof h, topic, h.topic_len);
    topic[h.topic_len] = '\0';
    copy_out(o, o->head + sizeof h + h.topic_len, payload, h.payload_len);
    *len = h.payload_len;
    return true;
}

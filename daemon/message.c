#include "message.h"

#include "json.h"

#include <string.h>

/* Appends src to topic at *len, cut to the topic's capacity as snprintf
 * would cut it; this runs for every published message, snprintf's format
 * parsing cost more than the copy. */
static void topic_append(char *topic, size_t *len, const char *src)
{
    size_t room = MESSAGE_TOPIC_MAX - 1 - *len;
    size_t n = strnlen(src, room);
    memcpy(topic + *len, src, n);
    *len += n;
}

void message_topic(char *topic, const char *prefix, const char *device, const char *type)
{
    size_t len = 0;
    topic_append(topic, &len, prefix);
    topic_append(topic, &len, ".");
    topic_append(topic, &len, device);
    if (type) {
        topic_append(topic, &len, ".");
        topic_append(topic, &len, type);
    }
    topic[len] = '\0';
}

static int finish(const json_t *j)
{
    size_t len;
    int rc = json_finish(j, &len);
    return rc < 0 ? rc : (int)len;
}

void message_begin(json_t *j, char *buf, size_t cap)
{
    json_init(j, buf, cap);
    json_object_begin(j);
    json_key(j, "v");
    json_int(j, MESSAGE_SCHEMA_VERSION);
}

void message_begin_device(json_t *j, char *buf, size_t cap, const char *device,
                          device_kind_t kind)
{
    message_begin(j, buf, cap);
    json_key(j, "device");
    json_string(j, device);
    json_key(j, "kind");
    json_string(j, device_kind_name(kind));
}

/* The fields every raw message of a stream begins with. */
static void raw_begin(json_t *j, char *buf, size_t cap, const char *device, device_kind_t kind,
                      unsigned rate_hz)
{
    message_begin_device(j, buf, cap, device, kind);
    json_key(j, "rate_hz");
    json_uint(j, rate_hz);
}

void message_raw_head(message_raw_head_t *head, const char *device, device_kind_t kind,
                      unsigned rate_hz)
{
    head->device = device;
    head->kind = kind;
    head->rate_hz = rate_hz;
    json_t j;
    raw_begin(&j, head->text, sizeof head->text, device, kind, rate_hz);
    head->len = j.overflow ? 0 : j.len;
}

__attribute__((hot)) int message_raw_after(char *buf, size_t cap, const message_raw_head_t *head,
                                           const message_block_t *block)
{
    json_t j;
    if (head->len > 0)
        json_init_object_after(&j, buf, cap, head->text, head->len);
    else
        raw_begin(&j, buf, cap, head->device, head->kind, head->rate_hz);
    json_key_literal(&j, "i0");
    json_uint(&j, block->i0);
    json_key_literal(&j, "t_dev");
    json_fixed(&j, block->t_dev, 6);
    json_key_literal(&j, "t_host");
    json_fixed(&j, block->t_host, 6);
    json_key_literal(&j, "n");
    json_uint(&j, block->n);
    /* Decimals chosen below each sensor's resolution: 0.01 Pa or 0.1 mN,
     * 1 micro-g, 0.0001 deg/s. */
    int p_decimals = head->kind == DEVICE_KIND_BALL ? 2 : 4;
    /* Each array is gathered and written in one call: the per-value
     * bookkeeping of json_fixed was most of the cost of a raw message. */
    enum { BLOCK_MAX = sizeof block->s / sizeof block->s[0] };
    double v[3 * BLOCK_MAX];
    unsigned n = block->n < BLOCK_MAX ? block->n : BLOCK_MAX;
    for (unsigned i = 0; i < n; i++)
        v[i] = block->s[i].p;
    json_key_literal(&j, "p");
    json_fixed_array(&j, v, n, p_decimals);
    for (unsigned i = 0; i < n; i++)
        for (int a = 0; a < 3; a++)
            v[3 * i + (unsigned)a] = block->s[i].acc[a];
    json_key_literal(&j, "acc");
    json_fixed_array(&j, v, 3 * (size_t)n, 6);
    for (unsigned i = 0; i < n; i++)
        for (int a = 0; a < 3; a++)
            v[3 * i + (unsigned)a] = block->s[i].gyr[a];
    json_key_literal(&j, "gyr");
    json_fixed_array(&j, v, 3 * (size_t)n, 4);
    json_object_end(&j);
    return finish(&j);
}

int message_raw(char *buf, size_t cap, const char *device, device_kind_t kind, unsigned rate_hz,
                const message_block_t *block)
{
    message_raw_head_t head;
    message_raw_head(&head, device, kind, rate_hz);
    return message_raw_after(buf, cap, &head, block);
}

/* The `phase` of an event message (events.md), indexed by event_phase_t. */
static const char *const phase_names[] = {
    [EVENT_START] = "start",
    [EVENT_END] = "end",
    [EVENT_INSTANT] = "instant",
};

int message_event(char *buf, size_t cap, const char *device, device_kind_t kind,
                  const event_t *event, double t_host)
{
    json_t j;
    message_begin_device(&j, buf, cap, device, kind);
    json_key(&j, "type");
    json_string(&j, event->type);
    json_key(&j, "phase");
    json_string(&j, phase_names[event->phase]);
    json_key(&j, "t_dev");
    json_fixed(&j, event->t_dev, 6);
    json_key(&j, "t_host");
    json_fixed(&j, t_host, 6);
    json_key(&j, "id");
    json_uint(&j, event->id);
    if (event->phase == EVENT_END) {
        json_key(&j, "t_start_dev");
        json_fixed(&j, event->t_start_dev, 6);
        json_key(&j, "duration_s");
        json_fixed(&j, event->t_dev - event->t_start_dev, 6);
    }
    for (int i = 0; i < event->n_fields; i++) {
        json_key(&j, event->fields[i].name);
        json_double(&j, event->fields[i].value);
    }
    if (event->text_name && event->text_value) {
        json_key(&j, event->text_name);
        json_string(&j, event->text_value);
    }
    json_object_end(&j);
    return finish(&j);
}

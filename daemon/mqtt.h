/* mqtt: the daemon as a client of an MQTT broker (docs/FLEET.md).
 *
 * What the pipeline publishes on ZeroMQ also goes, as the same bytes, to
 * topics under massaged/<site>/ (../shared/spec/events.md):
 *   event.<device>.<type> -> massaged/<site>/<device>/event/<type>, QoS 1
 *   status.<device>       -> massaged/<site>/<device>/status, QoS 0, retained
 *   status.daemon         -> massaged/<site>/daemon/status, QoS 1, retained,
 *                            with a Last Will {"v":1,"online":false} there
 *   raw.<device>          -> massaged/<site>/<device>/raw, QoS 0, only with
 *                            [mqtt] raw_every = N: every Nth block per device
 * and with [mqtt] ha_discovery, at every connection, Home Assistant's
 * discovery of each device's battery and connection (retained, QoS 1, under
 * homeassistant/<component>/<site>/).
 *
 * Threads. The module owns one thread, which alone uses libmosquitto (its
 * own loop, not mosquitto_loop_start, so that connecting, reconnecting and
 * the queue are all decided in one place). The pipeline thread hands
 * messages over through an SPSC ring with mqtt_offer, which copies the
 * message into a ring slot, never blocks and never allocates; a full ring
 * drops the message and counts it.
 *
 * Nothing lost across outages. Events wait in an outbox of [mqtt] queue_kib
 * KiB (allocated at start) until the broker is connected; they are handed to
 * libmosquitto in order, at most MQTT_INFLIGHT unacknowledged at a time, so
 * libmosquitto's own (unbounded) queue never holds more than that. A message
 * handed over stays with libmosquitto until the broker's PUBACK and is sent
 * again after a reconnection (with MQTT's DUP flag), so a subscriber may see
 * an event twice: device and id identify it. When the outbox is full the
 * oldest event is dropped and counted (mqtt_dropped in status.daemon, and a
 * warning in the log). Status and raw messages are not queued: while the
 * broker is away they are dropped (the retained status is renewed within a
 * status interval of the reconnection). The outbox lives in memory: what it
 * holds when the daemon itself stops unconnected is lost, and logged.
 *
 * MQTT 5 by default ([mqtt] protocol), so that a broker that refuses an
 * event (its ACL forbids the topic) says so in the PUBACK: logged once,
 * counted in mqtt_refused. MQTT 3.1.1 brokers drop such events silently.
 *
 * Reconnection: after a failure the next attempt waits 0.25 s, doubling up
 * to [mqtt] reconnect_max_s. Refused credentials, a failed TLS handshake, an
 * unknown host or a refused connection are logged once per change of cause
 * and shown in status.daemon (mqtt_error); streaming goes on.
 */
#ifndef MASSAGED_MQTT_H
#define MASSAGED_MQTT_H

#include "config.h"
#include "json.h"

#include <stddef.h>

#define MQTT_INFLIGHT 32        /* QoS 1 messages handed over and not yet acknowledged */
#define MQTT_RING_CAPACITY 64   /* messages between the pipeline and the MQTT thread */
#define MQTT_BACKOFF_MIN_MS 250 /* first reconnection delay */

typedef struct mqtt mqtt_t;

/* Starts the client thread for cfg->mqtt (broker non-empty), which connects
 * in the background: an unreachable broker is not an error here. Returns
 * NULL with *err set (negative errno) when the client cannot be set up
 * (out of memory, TLS files libmosquitto refuses), after logging why; NULL
 * with *err 0 when libmosquitto cannot be loaded (MQTT off, logged, shown as
 * mqtt_error in the status). Main thread. */
mqtt_t *mqtt_start(const config_t *cfg, int *err);

/* Stops the thread: pending events are delivered for at most 2 s while
 * connected, the retained daemon status is set offline, the connection is
 * closed; what could not be delivered is logged. Call after the producer has
 * stopped for good. Accepts NULL and NULLs the caller's pointer. */
void mqtt_stop(mqtt_t **mqtt);

/* Producer side, the pipeline thread only: offers a message the pipeline has
 * published on ZeroMQ (topic as there, payload of len bytes). Accepts mqtt
 * == NULL. Never blocks, never allocates. */
void mqtt_offer(mqtt_t *mqtt, const char *topic, const char *payload, size_t len);

/* Appends "mqtt_connected", "mqtt_error", "mqtt_sent", "mqtt_queued",
 * "mqtt_dropped", "mqtt_refused" and "mqtt_connects" to an open JSON object for
 * status.daemon; mqtt may be NULL (MQTT off: false, null and zeros). Any
 * thread (a mutex guards the numbers). */
void mqtt_status_json(mqtt_t *mqtt, json_t *j);

#endif

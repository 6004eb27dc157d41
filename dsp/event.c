#include "event.h"

#include <assert.h>

void event_add_field(event_t *event, const char *name, double value)
{
    assert(event->n_fields < EVENT_MAX_FIELDS);
    if (event->n_fields >= EVENT_MAX_FIELDS)
        return;
    event->fields[event->n_fields].name = name;
    event->fields[event->n_fields].value = value;
    event->n_fields++;
}

#include "event.h"

#include <assert.h>
#include <math.h>
#include <string.h>

void event_add_field(event_t *event, const char *name, double value)
{
    assert(event->n_fields < EVENT_MAX_FIELDS);
    if (event->n_fields >= EVENT_MAX_FIELDS)
        return;
    event->fields[event->n_fields].name = name;
    event->fields[event->n_fields].value = value;
    event->n_fields++;
}

double event_get_field(const event_t *event, const char *name)
{
    for (int i = 0; i < event->n_fields; i++)
        if (strcmp(event->fields[i].name, name) == 0)
            return event->fields[i].value;
    return NAN;
}

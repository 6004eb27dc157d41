#include "device_kind.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

static const device_kind_info_t kinds[] = {
    [DEVICE_KIND_BALL] = {"ball", 1000, 10, 1.0f, 16.0f / 32768.0f, 2000.0f / 32768.0f},
    [DEVICE_KIND_SCRAPER] = {"scraper", 500, 5, 0.001f, 16.0f / 32768.0f, 2000.0f / 32768.0f},
};

const device_kind_info_t *device_kind_info(device_kind_t kind)
{
    if ((unsigned)kind >= sizeof kinds / sizeof kinds[0] || !kinds[kind].name)
        return NULL;
    return &kinds[kind];
}

const char *device_kind_name(device_kind_t kind)
{
    const device_kind_info_t *info = device_kind_info(kind);
    return info ? info->name : "unknown";
}

int device_kind_parse(const char *name, device_kind_t *kind)
{
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        if (kinds[k].name && strcmp(kinds[k].name, name) == 0) {
            *kind = (device_kind_t)k;
            return 0;
        }
    }
    return -EINVAL;
}

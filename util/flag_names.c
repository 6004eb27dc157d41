#include "flag_names.h"

#include <errno.h>
#include <string.h>

int flag_names_parse(const char *text, const flag_name_t *names, size_t n, int *flags)
{
    int result = 0;
    const char *p = text;
    while (*p) {
        size_t len = strcspn(p, ",");
        size_t i = 0;
        while (i < n && !(strlen(names[i].name) == len && strncmp(names[i].name, p, len) == 0))
            i++;
        if (i < n)
            result |= names[i].flags;
        else if (len > 0)
            return -EINVAL;
        p += len;
        if (*p == ',')
            p++;
    }
    *flags = result;
    return 0;
}

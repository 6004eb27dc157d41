#include "cli.h"

int cli_usage_status(int opt, void (*usage)(FILE *out))
{
    if (opt != 'h')
        return cli_usage_error(usage);
    usage(stdout);
    return 0;
}

int cli_usage_error(void (*usage)(FILE *out))
{
    usage(stderr);
    return CLI_USAGE_ERROR;
}

/* cli: the programs' command-line convention, in one place. --help (-h)
 * prints the usage to stdout and the program exits 0; a usage error (an
 * unknown option, a missing or stray argument) prints the usage to stderr
 * and the program exits 2.
 */
#ifndef MASSAGED_CLI_H
#define MASSAGED_CLI_H

#include <stdio.h>

/* The status a program exits with after a usage error. */
#define CLI_USAGE_ERROR 2

/* For a getopt answer opt that none of the program's own options took: 'h'
 * (--help) prints the usage to stdout and returns 0, anything else is a
 * usage error (cli_usage_error). Returns the status to exit with. */
int cli_usage_status(int opt, void (*usage)(FILE *out));

/* A usage error: prints the usage to stderr and returns CLI_USAGE_ERROR. */
int cli_usage_error(void (*usage)(FILE *out));

#endif

/* massaged-export: a recorded session's XDF files as CSV, one file per
 * stream (docs/RECORDING.md, "Export").
 *
 * DIR/<device>.csv holds a device's samples, one row each, with a header
 * naming every column and its unit; DIR/events.csv holds every event with
 * its host time, topic and JSON payload (quoted as CSV requires). A device
 * whose HELLO changed during the session has one file per HELLO:
 * <device>.csv, <device>-2.csv, ...
 *
 * With --bids OUT, study recordings become a BIDS dataset instead (bids.h).
 */
#include "bids.h"
#include "cli.h"
#include "json_read.h"
#include "recording.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f, "Usage: massaged-export -o DIR FILE...\n"
               "       massaged-export --bids OUT RECORDING...\n"
               "Writes DIR/<device>.csv (samples) and DIR/events.csv (events) from the XDF\n"
               "files of one session, given in order; or, with --bids, a BIDS dataset (motion\n"
               "datatype) in OUT from study recordings (XDF files with participant, session,\n"
               "task and run labels; the files of one recording given in order).\n");
}

static int export_stream(const char *dir, const recording_stream_t *s, int nth)
{
    char path[4096];
    if (nth > 1)
        snprintf(path, sizeof path, "%s/%s-%d.csv", dir, s->name, nth);
    else
        snprintf(path, sizeof path, "%s/%s.csv", dir, s->name);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "massaged-export: %s: %s\n", path, strerror(errno));
        return -errno;
    }
    bool ball = s->kind == DEVICE_KIND_BALL;
    fprintf(f,
            "t_host_s,%s,acc_x_g,acc_y_g,acc_z_g,gyr_x_dps,gyr_y_dps,gyr_z_dps,"
            "sample_index,t_dev_s,frame_samples\n",
            ball ? "p_Pa" : "force_N");
    for (size_t i = 0; i < s->n; i++) {
        const double *v = s->values + i * XDF_CHANNELS;
        fprintf(f, "%.6f,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.0f,%.6f,%.0f\n", s->stamps[i],
                v[XDF_CH_P], v[XDF_CH_ACC_X], v[XDF_CH_ACC_Y], v[XDF_CH_ACC_Z], v[XDF_CH_GYR_X],
                v[XDF_CH_GYR_Y], v[XDF_CH_GYR_Z], v[XDF_CH_SAMPLE_INDEX], v[XDF_CH_T_DEV],
                v[XDF_CH_FRAME_SAMPLES]);
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "massaged-export: %s: %s\n", path, strerror(errno));
        return -EIO;
    }
    printf("%s: %zu samples\n", path, s->n);
    return 0;
}

static int export_events(const char *dir, const recording_t *rec)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/events.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "massaged-export: %s: %s\n", path, strerror(errno));
        return -errno;
    }
    fprintf(f, "t_host_s,topic,json\n");
    for (size_t i = 0; i < rec->n_events; i++) {
        const char *json = rec->events[i].json;
        char dev[64] = "", type[64] = "";
        json_read_string(json, strlen(json), "device", dev, sizeof dev);
        json_read_string(json, strlen(json), "type", type, sizeof type);
        fprintf(f, "%.6f,event.%s.%s,\"", rec->events[i].stamp, dev, type);
        for (const char *p = json; *p; p++) {
            if (*p == '"')
                fputc('"', f);
            fputc(*p, f);
        }
        fputs("\"\n", f);
    }
    if (fclose(f) != 0)
        return -EIO;
    printf("%s: %zu events\n", path, rec->n_events);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *bids = NULL;
    static const struct option options[] = {
        {"bids", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        switch (opt) {
        case 'o':
            dir = optarg;
            break;
        case 'b':
            bids = optarg;
            break;
        default: /* --help, or a usage error */
            return cli_usage_status(opt, usage);
        }
    }
    if (!dir == !bids || optind >= argc)
        return cli_usage_error(usage);
    if (bids)
        return bids_export(bids, argv + optind, argc - optind) == 0 ? 0 : 1;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "massaged-export: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    recording_t rec;
    if (recording_load(&rec, argv + optind, argc - optind) != 0)
        return 1;
    int rc = 0;
    for (int k = 0; k < rec.n_streams && rc == 0; k++) {
        int nth = 1;
        for (int j = 0; j < k; j++)
            nth += strcmp(rec.streams[j].name, rec.streams[k].name) == 0;
        rc = export_stream(dir, &rec.streams[k], nth);
    }
    if (rc == 0)
        rc = export_events(dir, &rec);
    recording_free(&rec);
    return rc == 0 ? 0 : 1;
}

/* massaged-keygen: makes a CURVE key pair for the publisher or a subscriber
 * (docs/SECURITY.md).
 *
 *   massaged-keygen [--force] SECRET_FILE
 *
 * Writes the secret key to SECRET_FILE (created with mode 0600; an existing
 * file is kept unless --force) in the format [publish] curve_secret_key_file
 * reads, and prints the public key on stdout: give the server's public key
 * to subscribers, put a subscriber's public key in curve_clients_file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

static int usage(FILE *out, int rc)
{
    fprintf(out, "usage: massaged-keygen [--force] SECRET_FILE\n"
                 "Writes a new CURVE secret key to SECRET_FILE (mode 0600) and prints its\n"
                 "public key (Z85, 40 characters) on stdout.\n");
    return rc;
}

int main(int argc, char **argv)
{
    int force = 0, i = 1;
    if (argc == 2 && strcmp(argv[1], "--help") == 0)
        return usage(stdout, 0);
    if (i < argc && strcmp(argv[i], "--force") == 0) {
        force = 1;
        i++;
    }
    if (argc - i != 1 || argv[i][0] == '-')
        return usage(stderr, 2);
    const char *path = argv[i];

    char public_key[41], secret_key[41];
    if (zmq_curve_keypair(public_key, secret_key) != 0) {
        fprintf(stderr, "massaged-keygen: %s (libzmq built without CURVE?)\n",
                zmq_strerror(zmq_errno()));
        return 1;
    }
    /* Create the file private from the start: never a moment when others
     * could read the secret. */
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (force ? O_TRUNC : O_EXCL);
    int fd = open(path, flags, 0600);
    if (fd < 0) {
        fprintf(stderr, "massaged-keygen: %s: %s%s\n", path, strerror(errno),
                errno == EEXIST ? " (use --force to replace it)" : "");
        return 1;
    }
    if (fchmod(fd, 0600) != 0) {
        fprintf(stderr, "massaged-keygen: %s: %s\n", path, strerror(errno));
        close(fd);
        return 1;
    }
    char text[256];
    int len =
        snprintf(text, sizeof text, "# massaged CURVE secret key; its public key is\n# %s\n%s\n",
                 public_key, secret_key);
    if (write(fd, text, (size_t)len) != len || fsync(fd) != 0 || close(fd) != 0) {
        fprintf(stderr, "massaged-keygen: %s: cannot write: %s\n", path, strerror(errno));
        return 1;
    }
    printf("%s\n", public_key);
    return 0;
}

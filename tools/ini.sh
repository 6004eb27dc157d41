# Shell functions that write the daemon's configuration (docs/CONFIGURATION.md)
# for the scripts that start it: tools/demo.sh and bench/*.sh. POSIX sh, to be
# sourced.

# ini_device NAME KIND PORT: prints the section of one device.
ini_device() {
    printf '[device.%s]\nkind = %s\nport = %s\n' "$1" "$2" "$3"
}

# ini_sim_devices DIR: prints the sections of a ball and a scraper, each named
# for its kind, on the links DIR/ball.tty and DIR/scraper.tty that massaged-sim
# --link makes.
ini_sim_devices() {
    ini_device ball ball "$1/ball.tty"
    ini_device scraper scraper "$1/scraper.tty"
}

# ini_write FILE: writes standard input to FILE, which others may read but not
# write: the daemon refuses a configuration file that others may write.
ini_write() {
    cat >"$1"
    chmod 644 "$1"
}

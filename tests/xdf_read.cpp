// xdf_read: loads an XDF file with libxdf (Debian's libxdf-dev, an XDF reader
// the project did not write) and prints what it found, for
// tests/e2e/test_record.py to compare with what the daemon was sent.
//
// Output: "stream NAME CHANNELS SAMPLES FORMAT" per stream, then for each
// numeric sample "sample NAME STAMP V0 V1 ...", and "event STAMP TEXT" for
// each string sample. libxdf keeps numeric values as float.
#include <xdf.h>

#include <cstdio>

int main(int argc, char **argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: xdf_read FILE.xdf\n");
        return 2;
    }
    Xdf xdf;
    if (xdf.load_xdf(argv[1]) != 0) {
        std::fprintf(stderr, "xdf_read: libxdf could not load %s\n", argv[1]);
        return 1;
    }
    for (const auto &s : xdf.streams) {
        std::printf("stream %s %d %zu %s\n", s.info.name.c_str(), s.info.channel_count,
                    s.time_stamps.size(), s.info.channel_format.c_str());
        if (s.info.channel_format == "string")
            continue;
        for (size_t i = 0; i < s.time_stamps.size(); i++) {
            std::printf("sample %s %.17g", s.info.name.c_str(), s.time_stamps[i]);
            for (const auto &ch : s.time_series)
                std::printf(" %.9g", (double)ch[i]);
            std::printf("\n");
        }
    }
    for (const auto &e : xdf.eventMap)
        std::printf("event %.17g %s\n", e.first.second, e.first.first.c_str());
    return 0;
}

# Cross build for 64-bit Raspberry Pi OS / Debian arm64 on a Debian amd64
# machine: Debian's cross compiler (gcc-aarch64-linux-gnu) and the arm64
# libraries installed through multiarch (dpkg --add-architecture arm64;
# apt-get install libzmq3-dev:arm64 ...). Tests run under qemu-user.
# Usage: cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Multiarch: the arm64 libraries live beside the host's, in /usr/lib/aarch64-linux-gnu,
# so the root path is / and only that architecture's directories are searched
# for libraries and headers; programs (pkg-config, python3) are the host's.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)

# pkg-config must see only the arm64 .pc files, never the host's.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")

# ctest runs the C test executables through this; the e2e tests' Python
# does the same through cmake/qemu-python (see docs/PI.md). No "-L
# /usr/aarch64-linux-gnu": the arm64 libc and every library come from the
# multiarch packages (libc6:arm64 provides /lib/ld-linux-aarch64.so.1), and
# pointing qemu at the cross toolchain's separate libc copy mixes two libcs
# in one process, which hangs the daemon at its first thread.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static)

# CPack: the Debian architecture of the package and dpkg-shlibdeps' view of it.
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64 CACHE STRING "Debian architecture of the package")

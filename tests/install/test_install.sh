#!/usr/bin/env bash
# Installs the build into a temporary prefix and builds a consumer program
# against it twice: with pkg-config (static and shared) and with CMake's
# find_package. Usage: test_install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(ls -d "$tmp"/prefix/lib*/ | head -1)
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc -std=c11 -Wall -Werror -o "$tmp/consumer_pc" "$src/tests/install/consumer.c" \
  $(pkg-config --cflags --libs otlparrow) -Wl,-rpath,"$libdir"
"$tmp/consumer_pc"
# static libotlparrow with its dependencies' shared libraries (their own
# static archives and private dependencies are not all packaged)
deps=$(pkg-config --print-requires-private otlparrow | awk '{print $1}')
cc -std=c11 -o "$tmp/consumer_static" "$src/tests/install/consumer.c" \
  $(pkg-config --cflags otlparrow) "$libdir/libotlparrow.a" $(pkg-config --libs $deps) -lpthread -lm
"$tmp/consumer_static"
cmake -S "$src/tests/install" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cm" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/cm/consumer_cmake"
echo "install: pkg-config (shared, static) and find_package consumers built and ran"

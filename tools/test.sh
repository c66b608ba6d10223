#!/bin/sh
# test.sh - set up, build, and run the whole test suite twice: in the plain
# build and under AddressSanitizer + UndefinedBehaviorSanitizer.  Ends with
# the line "N passed, N failed" and a nonzero status on any failure.
set -e
cd "$(dirname "$0")/.."
tools/setup.sh --asan
# Both builds share one Linux kernel tree for the linux suite (built once).
export FB_LINUX_CACHE="${FB_LINUX_CACHE:-$PWD/build-linux-cache}"
set +e
meson test -C build --num-processes 2 --print-errorlogs $FB_TEST_ARGS
meson test -C build-asan --num-processes 2 --print-errorlogs $FB_TEST_ARGS
set -e
exec python3 tools/test_summary.py build/meson-logs/testlog.json build-asan/meson-logs/testlog.json

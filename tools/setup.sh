#!/bin/sh
# setup.sh - make this machine ready to build Flashback, and build it.
#
# On Debian 12 as root: installs the Debian packages that are missing, then
# configures (once) and builds build/ (and build-asan/ with --asan, the
# AddressSanitizer + UndefinedBehaviorSanitizer build the tests also run in).
set -e
cd "$(dirname "$0")/.."

PKGS="meson ninja-build gcc gcc-multilib nasm python3 pkg-config libcapstone-dev
libzstd-dev libsqlite3-dev zlib1g-dev sqlite3 gdb qemu-system-x86 seabios memtest86+
linux-source-6.1 bc bison flex libelf-dev libssl-dev cpio"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "setup: these Debian packages are missing; run as root to install them:$missing" >&2
		exit 1
	fi
	echo "setup: installing$missing"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build
if [ "$1" = "--asan" ]; then
	[ -f build-asan/build.ninja ] ||
		meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
	ninja -C build-asan
fi

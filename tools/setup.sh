#!/bin/sh
# setup.sh - make this machine ready to build Flashback, and build it.
#
# On Debian 12 as root: installs the Debian packages of
# tools/debian-packages.txt that are missing, then configures (once) and
# builds build/ (and build-asan/ with --asan, the AddressSanitizer +
# UndefinedBehaviorSanitizer build the tests also run in).
#
# Quiet when a step succeeds; when one fails, its own output (apt's,
# meson's, ninja's) reaches the terminal, followed by one line naming the
# step, and setup exits nonzero.
set -u
cd "$(dirname "$0")/.."

log=$(mktemp "${TMPDIR:-/tmp}/flashback-setup.XXXXXX") || {
	echo "setup: cannot create a temporary file" >&2
	exit 1
}
trap 'rm -f "$log"' EXIT

# step NAME COMMAND...: run COMMAND with its output kept aside; on failure
# show that output and say which step failed.
step() {
	name=$1
	shift
	"$@" >"$log" 2>&1 || {
		status=$?
		cat "$log" >&2
		echo "setup: $name failed (exit status $status): $*" >&2
		exit 1
	}
}

# The ninja steps show their progress as they go: a build takes minutes.
build() {
	ninja -C "$1" || {
		status=$?
		echo "setup: building $1 failed (exit status $status): ninja -C $1" >&2
		exit 1
	}
}

pkgs=$(sed -e 's/#.*//' tools/debian-packages.txt) || {
	echo "setup: cannot read tools/debian-packages.txt" >&2
	exit 1
}
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "setup: these Debian packages are missing; run as root to install them:$missing" >&2
		echo "setup: or install them yourself: sudo apt-get install$missing" >&2
		exit 1
	fi
	echo "setup: installing$missing"
	step "apt-get update" apt-get update
	step "installing packages" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends $missing
fi

[ -f build/build.ninja ] || step "configuring build/" meson setup build
build build
if [ "${1:-}" = "--asan" ]; then
	[ -f build-asan/build.ninja ] || step "configuring build-asan/" \
		meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
	build build-asan
fi

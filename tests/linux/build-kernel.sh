#!/bin/sh
# Builds Flashback's i386 Linux guest kernel from Debian's linux-source-6.1
# package: unpacks the source into OUTDIR once, configures it from
# tinyconfig plus tests/linux/kernel.config, builds bzImage, and copies
# OUTDIR/bzImage and OUTDIR/vmlinux.  Reruns are incremental: the source is
# unpacked once, the configuration redone only when kernel.config changes,
# and make rebuilds nothing when nothing changed; when OUTDIR's copies were
# built from the same kernel.config, script and tarball, make is skipped.
#
# Usage: build-kernel.sh OUTDIR [TARBALL]
# Environment: JOBS (default 2), KERNEL_TARBALL, and FB_LINUX_CACHE: a
# directory for the unpacked and built source tree (default OUTDIR), so
# that several build directories (plain, ASan) share one kernel build.
set -eu

if [ $# -lt 1 ]; then
	echo "usage: $0 OUTDIR [TARBALL]" >&2
	exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
out=$(mkdir -p "$1" && cd "$1" && pwd)
tarball=${2:-${KERNEL_TARBALL:-/usr/src/linux-source-6.1.tar.xz}}
jobs=${JOBS:-2}
cache=$(mkdir -p "${FB_LINUX_CACHE:-$out}" && cd "${FB_LINUX_CACHE:-$out}" && pwd)
src=$cache/linux-source-6.1
fragment=$here/kernel.config

if [ ! -f "$tarball" ]; then
	echo "$0: no kernel source at $tarball (apt-get install linux-source-6.1)" >&2
	exit 1
fi

# What OUTDIR's kernel is built from: the fragment, this script and the
# tarball.  When it matches the stamp of the last build into OUTDIR, there
# is nothing to do: even a make that rebuilds nothing walks the whole tree
# (30-50 s on a busy machine), and every linux test calls this script.
key=$(cat "$fragment" "$0" | sha256sum | cut -d' ' -f1)
key="$key $(stat -c '%n %s %Y' "$tarball")"
stamp=$out/.flashback-built
if [ -f "$out/bzImage" ] && [ -f "$out/vmlinux" ] && [ -f "$stamp" ] &&
	[ "$(cat "$stamp")" = "$key" ]; then
	echo "kernel: $out/bzImage ($(wc -c < "$out/bzImage") bytes), $out/vmlinux (up to date)"
	exit 0
fi
rm -f "$stamp"

# Unpack once; the stamp tells a finished unpack from an interrupted one.
if [ ! -f "$src/.flashback-unpacked" ]; then
	echo "unpacking $tarball into $cache"
	rm -rf "$src"
	tar -C "$cache" -xf "$tarball"
	touch "$src/.flashback-unpacked"
fi

kmake() {
	nice -n 19 make -C "$src" ARCH=i386 "$@"
}

# Configure when the fragment changed since the last configuration.
if ! cmp -s "$fragment" "$src/.flashback-config" || [ ! -f "$src/.config" ]; then
	echo "configuring: tinyconfig + $fragment"
	kmake tinyconfig >/dev/null
	args=""
	while read -r verb name value; do
		case "$verb" in
		'' | '#'*) continue ;;
		set-str) "$src/scripts/config" --file "$src/.config" --set-str "$name" "$value" ;;
		set-val) "$src/scripts/config" --file "$src/.config" --set-val "$name" "$value" ;;
		enable | disable) "$src/scripts/config" --file "$src/.config" "--$verb" "$name" ;;
		*) echo "$fragment: unknown verb '$verb'" >&2; exit 1 ;;
		esac
	done < "$fragment"
	kmake olddefconfig >/dev/null
	# Every option the fragment asks for must have survived olddefconfig
	# (a missing dependency silently drops one).
	while read -r verb name value; do
		case "$verb" in
		enable)
			grep -q "^CONFIG_$name=y" "$src/.config" || {
				echo "$fragment: CONFIG_$name did not stay enabled" >&2; exit 1; } ;;
		disable)
			if grep -q "^CONFIG_$name=[ym]" "$src/.config"; then
				echo "$fragment: CONFIG_$name did not stay disabled" >&2; exit 1
			fi ;;
		esac
	done < "$fragment"
	cp "$fragment" "$src/.flashback-config"
fi

kmake -j"$jobs" bzImage
cp "$src/arch/x86/boot/bzImage" "$out/bzImage.tmp" && mv "$out/bzImage.tmp" "$out/bzImage"
cp "$src/vmlinux" "$out/vmlinux.tmp" && mv "$out/vmlinux.tmp" "$out/vmlinux"
echo "$key" > "$stamp"
echo "kernel: $out/bzImage ($(wc -c < "$out/bzImage") bytes), $out/vmlinux"

#!/usr/bin/env bash
# A software WebGPU for the tests: Debian's Vulkan loader (libvulkan1, installed if missing when run as root) and Mesa
# 25's lavapipe from bookworm-backports (Debian bookworm's own, Mesa 22.3, is too old for Dawn), unpacked into a
# cache folder, not installed: nothing else on the machine changes. Prints the driver manifest to give the tests
# (they look in the same place): VK_DRIVER_FILES=<it> POSTHUMAN_WEBGPU_SOFTWARE=1. Runs once; later calls only print.
#   bash scripts/software-webgpu.sh [--print]   (--print: the manifest if it is there, nothing else)
set -euo pipefail
DIR="${POSTHUMAN_LAVAPIPE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/posthuman-lavapipe}"
ICD="$DIR/lvp_icd.json"
# The loader where Debian puts it, or in the linker cache (/sbin is not on a user's PATH; grep reads everything:
# with -q it could stop early, and pipefail would count ldconfig's broken pipe as a failure).
has_loader() {
  [ -e /usr/lib/x86_64-linux-gnu/libvulkan.so.1 ] || [ -e /lib/x86_64-linux-gnu/libvulkan.so.1 ] ||
    PATH="$PATH:/sbin:/usr/sbin" ldconfig -p 2>/dev/null | grep 'libvulkan\.so\.1 ' >/dev/null
}
if [ -f "$ICD" ] && has_loader; then
  echo "$ICD"
  exit 0
fi
[ "${1:-}" = "--print" ] && exit 1
if ! has_loader && [ "$(id -u)" != 0 ]; then
  echo "software-webgpu: no Vulkan loader; install it first: sudo apt-get install -y --no-install-recommends libvulkan1" >&2
  exit 1
fi
if ! has_loader; then
  # --no-install-recommends: the loader alone (its recommended mesa-vulkan-drivers is the old lavapipe)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libvulkan1 >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libvulkan1 >/dev/null; }
fi
mkdir -p "$DIR/apt/lists/partial" "$DIR/apt/cache/archives/partial" "$DIR/deb"
printf 'deb http://deb.debian.org/debian bookworm-backports main\n' >"$DIR/apt/sources.list"
APT=(-o "Dir::Etc::sourcelist=$DIR/apt/sources.list" -o Dir::Etc::sourceparts=/dev/null -o "Dir::State::Lists=$DIR/apt/lists"
  -o "Dir::Cache=$DIR/apt/cache" -o APT::Architecture=amd64 -o APT::Architectures=amd64 -o Debug::NoLocking=1)
apt-get "${APT[@]}" update -qq
(cd "$DIR/deb" && apt-get "${APT[@]}" download mesa-vulkan-drivers 2>&1 | grep -v "unsandboxed" || true)
DEB="$(ls "$DIR"/deb/mesa-vulkan-drivers_*_amd64.deb | tail -1)"
rm -rf "$DIR/root" && dpkg -x "$DEB" "$DIR/root"
LIB="$DIR/root/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so"
[ -f "$LIB" ] || { echo "software-webgpu: $DEB has no libvulkan_lvp.so" >&2; exit 1; }
printf '{ "file_format_version": "1.0.0", "ICD": { "library_path": "%s", "api_version": "1.3.0" } }\n' "$LIB" >"$ICD.tmp"
mv "$ICD.tmp" "$ICD"
echo "$ICD"

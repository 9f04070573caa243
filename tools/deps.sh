#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Install, with apt-get, whatever of these Debian 12 packages is missing. Idempotent.
#   tools/deps.sh build   - to build and run ipcfs
#   tools/deps.sh test    - to run the whole test suite (adds pytest, sysv_ipc, qemu, clang for
#                           the fuzzers and sanitizer runtimes, ...)
set -euo pipefail

build_pkgs=(gcc pkg-config meson ninja-build libfuse3-dev fuse3 libglib2.0-dev attr
            libbpf-dev bpftool clang)   # the eBPF source of /events
test_pkgs=(python3-pytest python3-pytest-timeout python3-sysv-ipc util-linux procps psmisc debootstrap
           qemu-system-x86 linux-image-amd64 linux-headers-amd64 busybox-static cpio kmod make
           clang libclang-rt-dev gdb sparse linux-source-6.1
           fio stress-ng postgresql-15)   # foreign clients the suite drives (tests/clients/)

want=("${build_pkgs[@]}")
[ "${1:-build}" = test ] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing ${missing[*]}; run as root (or install them)" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

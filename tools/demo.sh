#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The main job: build ipcfs, mount it at DIR (default /mnt/ipc) and show it working.
# It stays mounted afterwards; `fusermount3 -u DIR` unmounts.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/mnt/ipc}

tools/deps.sh build
tools/build.sh
mkdir -p "$dir"
if mountpoint -q "$dir"; then
	fusermount3 -u "$dir"
fi
opts=()
[ "$(id -u)" -eq 0 ] && opts=(-o allow_other)
build/src/ipcfs "${opts[@]}" "$dir"

show() { printf '\n$ %s\n' "$*"; eval "$@"; }
key=0x00c0ffee
show "ls $dir"
m=$(ipcmk -M 4096 -p 0640 | awk '{print $NF}')
q=$(ipcmk -Q | awk '{print $NF}')
s=$(ipcmk -S 2 | awk '{print $NF}')
printf '\n(ipcmk made shm id %s, msg id %s, sem id %s)\n' "$m" "$q" "$s"
show "echo 'hello from ipcfs' > $dir/shm/$key"
show "ls -l $dir/shm $dir/sem $dir/msg"
show "ipcs -m"
show "cat $dir/shm/$key"
show "getfattr -d $dir/shm/$key"
show "echo '3 1' > $dir/sem/id-$s; echo '0:-1 1:+1' > $dir/sem/id-$s; cat $dir/sem/id-$s"
show "echo first > $dir/msg/id-$q; echo typed > $dir/msg/id-$q@5; ls -l $dir/msg/id-$q"
show "head -c 6 $dir/msg/id-$q@5; head -c 6 $dir/msg/id-$q"
show "rm $dir/shm/$key $dir/shm/id-$m $dir/sem/id-$s $dir/msg/id-$q; ipcs -i $m -m 2>&1 | head -n1"
printf '\nipcfs is mounted at %s; unmount with: fusermount3 -u %s\n' "$dir" "$dir"

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Configure (once) and build ipcfs into build/, warnings as errors.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build/build.ninja ] || meson setup build -Dwerror=true -Dbpf=enabled >/dev/null
meson compile -C build >/dev/null

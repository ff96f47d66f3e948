#!/usr/bin/env bash
# Desktop figures for docs/performance.md (issue 5), under Xvfb with Mesa's software GL:
#  - cold start to first frame of the real app (demo mode, fresh data folder), 5 runs;
#  - frames painted during 10 s without input (target 0);
#  - resident memory with 100 000 rows in 受信一覧 against a minimal eframe window with the
#    same font and renderer (target: at most 20 MB above it);
#  - stripped release binary size (target ≤ 30 MB).
# Usage: scripts/measure-desktop.sh [target-dir]   (builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
TD=${1:-target}
CARGO_TARGET_DIR=$TD cargo build --release --bin careplan --example minimal_window -p careplan-app
BIN=$TD/release/careplan
MIN=$TD/release/examples/minimal_window
export DISPLAY=${DISPLAY_FOR_MEASURE:-:97}
Xvfb "$DISPLAY" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
XPID=$!
trap 'kill $XPID 2>/dev/null || true' EXIT
sleep 1
now_ms() { date +%s%3N; }
field() { sed -n "s/^$1=//p" "$2"; }
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "renderer: ${CAREPLAN_RENDERER:-glow} on Mesa llvmpipe (Xvfb)"
for i in 1 2 3 4 5; do
  d=$(mktemp -d); log=$(mktemp)
  t0=$(now_ms)
  CAREPLAN_MEASURE=1 CAREPLAN_DATA_DIR=$d "$BIN" >"$log" 2>/dev/null || true
  t1=$(field first_frame_epoch_ms "$log")
  echo "run $i: cold start to first frame $((t1 - t0)) ms, idle repaints in 10 s: $(field idle_repaints_10s "$log"), RSS $(field rss_kib "$log") KiB (demo relay running in-process)"
  rm -rf "$d" "$log"
done
d=$(mktemp -d); log=$(mktemp)
CAREPLAN_MEASURE=1 CAREPLAN_MEASURE_ROWS=100000 CAREPLAN_DATA_DIR=$d "$BIN" >"$log" 2>/dev/null || true
app=$(field rss_kib "$log"); app_idle=$(field idle_repaints_10s "$log")
CAREPLAN_MEASURE=1 "$MIN" >"$log" 2>/dev/null || true
min=$(field rss_kib "$log")
echo "RSS 受信一覧 100 000 rows: $app KiB; minimal eframe window: $min KiB; difference: $(( (app - min) / 1024 )) MiB; idle repaints with 100 000 rows: $app_idle"
# Where the difference goes (docs/performance.md): the same app with no row (its code and
# screens) and with 100 rows (one screen of the table drawn, almost no data).
for rows in 0 100; do
  rm -rf "$d"; d=$(mktemp -d)
  CAREPLAN_MEASURE=1 CAREPLAN_MEASURE_ROWS=$rows CAREPLAN_DATA_DIR=$d "$BIN" >"$log" 2>/dev/null || true
  echo "RSS 受信一覧 $rows rows: $(field rss_kib "$log") KiB"
done
rm -rf "$d" "$log"
cp "$BIN" /tmp/careplan-stripped && strip /tmp/careplan-stripped
echo "binary: $(stat -c %s "$BIN") bytes as built (release profile strips), $(stat -c %s /tmp/careplan-stripped) bytes after strip"

#!/usr/bin/env bash
# Hands-free exchange figures for docs/performance.md (issue 14), Linux only (/proc):
#  - latency from a complete set in A's 送信フォルダ to its .完了 marker in B's 受信フォルダ,
#    two real `careplan watch` processes and the demo relay on loopback, MEASURE_SETS sets
#    (default 100) one after the other, median / p90 / p99;
#  - idle CPU and resident memory of both watchers with MEASURE_ARCHIVE files (default
#    10 000) in the archive folders, over MEASURE_IDLE_SECS (default 60).
# Usage: scripts/measure-watch.sh [target-dir] [profile]   (profile: dev (default) or release)
# Environment: MEASURE_SETS, MEASURE_SETTLE, MEASURE_POLL, MEASURE_ARCHIVE, MEASURE_IDLE_SECS.
set -euo pipefail
cd "$(dirname "$0")/.."
TD=${1:-${CARGO_TARGET_DIR:-target}}
PROFILE=${2:-dev}
if [ "$PROFILE" = release ]; then
  CARGO_TARGET_DIR=$TD cargo build --release -p careplan-app --bin careplan --example measure_watch
  DIR=$TD/release
else
  CARGO_TARGET_DIR=$TD cargo build -p careplan-app --bin careplan --example measure_watch
  DIR=$TD/debug
fi
echo "profile: $PROFILE; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$DIR/examples/measure_watch" "$DIR/careplan"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

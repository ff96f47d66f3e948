#!/usr/bin/env bash
# Screenshots of every screen of the real window under Xvfb (1280x800), into docs/screenshots/.
# Drives the demo mode with xdotool (no window manager: clicks at fixed positions of the
# 1280x760 window). Usage: scripts/screenshots.sh [path-to-careplan-binary] [scale]
#   scale: 1 (default) or 1.25 (writes *-125.png, checks the layout at 125 %).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/debug/careplan}
SCALE=${2:-1}
OUT=docs/screenshots
SUFFIX=""
[ "$SCALE" != "1" ] && SUFFIX="-125"
need() { command -v "$1" >/dev/null || { echo "missing $1: apt-get install -y --no-install-recommends xvfb imagemagick xdotool" >&2; exit 1; }; }
need Xvfb; need xdotool; need import
export DISPLAY=${DISPLAY_FOR_SHOTS:-:98}
# The screen grows with the scale so that the 1280x760 window keeps its logical size.
SW=$(awk -v k="$SCALE" 'BEGIN { printf "%d", 1280 * k }')
SH=$(awk -v k="$SCALE" 'BEGIN { printf "%d", 800 * k }')
Xvfb "$DISPLAY" -screen 0 "${SW}x${SH}x24" -nolisten tcp >/dev/null 2>&1 &
XPID=$!
DATA=$(mktemp -d)
cleanup() { kill "$APID" 2>/dev/null || true; kill "$XPID" 2>/dev/null || true; rm -rf "$DATA"; }
trap cleanup EXIT
sleep 1
WINIT_X11_SCALE_FACTOR=$SCALE CAREPLAN_DATA_DIR=$DATA "$BIN" >/dev/null 2>&1 &
APID=$!
# Wait for the window and the demo relay.
for _ in $(seq 100); do
  W=$(xdotool search --class careplan 2>/dev/null | tail -1 || true)
  [ -n "$W" ] && break
  sleep 0.2
done
[ -n "${W:-}" ] || { echo "no window" >&2; exit 1; }
s() { awk -v a="$1" -v k="$SCALE" 'BEGIN { printf "%d", a * k }'; }
click() { xdotool mousemove "$(s "$1")" "$(s "$2")" click 1; sleep "${3:-1.5}"; }
shot() { import -window "$W" "$OUT/$1$SUFFIX.png"; echo "$OUT/$1$SUFFIX.png"; }
sleep 4
shot app-login
click 640 163 0.5          # デモのパスワードを入力
click 640 300 3            # 次へ
shot app-login-step2
click 432 294 4            # ログイン
shot app-top
click 152 16 3; shot app-received
click 236 16 3; shot app-sent
click 320 16 2; shot app-compose
click 411 16 3; shot app-drafts
click 502 16 2; shot app-bulk
click 152 16 2
click 560 54 1             # 未取得をすべて選択
click 770 54 2             # データ受信（n件）
shot app-receive-dialog

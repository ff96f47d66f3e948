#!/usr/bin/env bash
# Draw the application icon (assets/icon.png, assets/icon.ico, assets/tray-32*.png) with ImageMagick.
# Original drawing: a teal tile, a white sheet with ruled lines (the care plan), and two
# arrows (the exchange between offices). No third-party art. Re-run after changing it.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v convert >/dev/null || { echo "make-icon: ImageMagick (convert) is missing: apt-get install -y imagemagick" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
convert -size 256x256 xc:none \
  -fill '#0f7c7a' -draw 'roundrectangle 8,8 247,247 44,44' \
  -fill '#ffffff' -draw 'polygon 62,40 158,40 194,76 194,214 62,214' \
  -fill '#cfe9e7' -draw 'polygon 158,40 158,76 194,76' \
  -fill '#0f7c7a' -draw 'rectangle 84,92 172,102' -draw 'rectangle 84,116 172,126' \
  -draw 'rectangle 84,140 140,150' \
  -fill '#f28c28' -stroke '#ffffff' -strokewidth 6 \
  -draw 'polygon 120,178 196,178 196,160 236,190 196,220 196,202 120,202' \
  -depth 8 "PNG32:$tmp/icon-256.png"
for s in 16 24 32 48 64 128; do
  convert "$tmp/icon-256.png" -resize ${s}x${s} "$tmp/icon-$s.png"
done
cp "$tmp/icon-256.png" assets/icon.png
convert "$tmp/icon-16.png" "$tmp/icon-24.png" "$tmp/icon-32.png" "$tmp/icon-48.png" \
  "$tmp/icon-64.png" "$tmp/icon-128.png" "$tmp/icon-256.png" assets/icon.ico
# The notification-area (tray) icon, 32 px: plain, and with an orange dot for files not yet
# received (src/tray.rs decodes both at start).
convert "$tmp/icon-256.png" -resize 32x32 -depth 8 "PNG32:assets/tray-32.png"
convert "$tmp/icon-256.png" \
  -fill '#d9381e' -stroke '#ffffff' -strokewidth 14 -draw 'circle 196,60 196,4' \
  -resize 32x32 -depth 8 "PNG32:assets/tray-32-unread.png"
echo "make-icon: wrote assets/icon.png, assets/icon.ico and assets/tray-32*.png"

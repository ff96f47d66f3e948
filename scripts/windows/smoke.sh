#!/usr/bin/env bash
# Smoke-test the Windows build under Wine on a virtual X display (Xvfb), without Windows.
#
#   scripts/windows/smoke.sh             # headless commands + installer (after build.sh)
#   scripts/windows/smoke.sh --gui       # also the desktop window: screenshots into docs/screenshots/
#   scripts/windows/smoke.sh --gui --no-headless
#
# Uses the exes of scripts/windows/build.sh (CARGO_TARGET_DIR, default target/) and the
# installer in dist/. Installs what it needs on a fresh Debian machine (wine64, xvfb,
# xdotool, imagemagick, the ja_JP.UTF-8 locale) unless NO_INSTALL=1. The Wine prefix is
# WINEPREFIX (default: $CARGO_TARGET_DIR/wineprefix), created on first use.
# Result: one line per check, dist/windows-smoke.txt; exit code = number of failures.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
TARGET=x86_64-pc-windows-gnu
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${WIN_OUT:-$CARGO_TARGET_DIR/$TARGET/${CAREPLAN_PROFILE:-dist}}
export WINEPREFIX=${WINEPREFIX:-$CARGO_TARGET_DIR/wineprefix}
export WINEDEBUG=${WINEDEBUG:--all}
export WINEDLLOVERRIDES="mscoree,mshtml="
export WINEARCH=win64

die() { echo "smoke.sh: ERROR: $*" >&2; exit 1; }
log() { echo "smoke.sh: $*" >&2; }

need=()
[[ -x /usr/lib/wine/wine64 ]] || command -v wine64 >/dev/null || need+=(wine64 wine)
command -v Xvfb >/dev/null || need+=(xvfb)
command -v xdotool >/dev/null || need+=(xdotool)
command -v import >/dev/null || need+=(imagemagick)
command -v python3 >/dev/null || need+=(python3)
locale -a 2>/dev/null | grep -qi '^ja_JP.utf-\?8$' || need+=(locales)
if ((${#need[@]})); then
  [[ -z "${NO_INSTALL:-}" ]] || die "missing Debian packages: ${need[*]}"
  log "installing ${need[*]}"
  SUDO=; [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${need[@]}" \
    || die "could not install ${need[*]}"
fi
if ! locale -a 2>/dev/null | grep -qi '^ja_JP.utf-\?8$'; then
  SUDO=; [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO localedef -i ja_JP -c -f UTF-8 -A /usr/share/locale/locale.alias ja_JP.UTF-8 \
    || die "could not generate the ja_JP.UTF-8 locale"
fi
WINE=${WINE:-$( [[ -x /usr/lib/wine/wine64 ]] && echo /usr/lib/wine/wine64 || command -v wine64 )}
WINESERVER=${WINESERVER:-$( [[ -x /usr/lib/wine/wineserver ]] && echo /usr/lib/wine/wineserver || command -v wineserver )}
export WINE WINESERVER

[[ -f "$OUT/careplan.exe" && -f "$OUT/careplan-relay.exe" ]] \
  || die "no $OUT/careplan.exe: run scripts/windows/build.sh first (same CARGO_TARGET_DIR)"
VERSION=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -1)
SETUP=$ROOT/dist/careplan-$VERSION-windows-x64-setup.exe

# Virtual display (also for the headless part: Wine wants a display for some DLLs).
XVFB_PID=
cleanup() {
  "$WINESERVER" -k 2>/dev/null || true
  [[ -n "$XVFB_PID" ]] && kill "$XVFB_PID" 2>/dev/null || true
}
trap cleanup EXIT
if [[ -z "${DISPLAY:-}" ]]; then
  for n in $(seq 90 110); do
    [[ -e /tmp/.X11-unix/X$n || -e /tmp/.X$n-lock ]] && continue
    Xvfb ":$n" -screen 0 1400x900x24 -nolisten tcp >/dev/null 2>&1 &
    XVFB_PID=$!
    export DISPLAY=":$n"
    break
  done
  sleep 2
  kill -0 "$XVFB_PID" 2>/dev/null || die "Xvfb did not start"
fi
log "DISPLAY=$DISPLAY WINEPREFIX=$WINEPREFIX"

if [[ ! -f "$WINEPREFIX/system.reg" ]]; then
  log "creating the Wine prefix (first run, ~30 s)"
  "$WINE" wineboot -i >/dev/null 2>&1 || true
  "$WINESERVER" -w
fi

# Debian 12's Wine 8.0 has no bcryptprimitives.dll (ProcessPrng, used by Rust's std since
# 1.78; present on every Windows 10/11 and in Wine >= 9.0): give the prefix a test-only shim.
wine_dlls=$(dirname "$(readlink -f "$WINE")")/../../lib/x86_64-linux-gnu/wine/x86_64-windows
if [[ ! -f /usr/lib/x86_64-linux-gnu/wine/x86_64-windows/bcryptprimitives.dll && ! -f "$wine_dlls/bcryptprimitives.dll" ]]; then
  sys32=$WINEPREFIX/drive_c/windows/system32
  if [[ ! -f "$sys32/bcryptprimitives.dll" ]]; then
    command -v x86_64-w64-mingw32-gcc >/dev/null || die "x86_64-w64-mingw32-gcc is needed for the Wine shim (run build.sh first)"
    log "Wine has no bcryptprimitives.dll: installing the test shim (scripts/windows/wine-shim) into the prefix"
    x86_64-w64-mingw32-gcc -O2 -shared -s -o "$sys32/bcryptprimitives.dll" \
      scripts/windows/wine-shim/bcryptprimitives.c scripts/windows/wine-shim/bcryptprimitives.def -lbcrypt \
      || die "could not build the bcryptprimitives shim"
  fi
fi

args=(--out "$OUT" --prefix "$WINEPREFIX" --version "$VERSION")
[[ -f "$SETUP" ]] && args+=(--setup "$SETUP") || log "no installer at $SETUP: installer checks skipped (run build.sh)"
start=$(date +%s)
set +e
python3 scripts/windows/smoke.py "${args[@]}" "$@"
rc=$?
set -e
log "smoke test took $(( $(date +%s) - start )) s; $rc failure(s); report: dist/windows-smoke.txt"
exit "$rc"

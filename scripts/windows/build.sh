#!/usr/bin/env bash
# Cross-build careplan for Windows (x86_64-pc-windows-gnu, mingw-w64) on Debian and package
# it: a portable zip and a per-user NSIS installer, both into dist/ (gitignored).
#
#   scripts/windows/build.sh            # release build + zip + installer
#   NO_INSTALL=1 scripts/windows/build.sh   # do not apt-get install missing tools
#
# Environment: CARGO_TARGET_DIR (default: target/), NICE (default 19: the build runs at the
# lowest CPU priority so that a desktop session stays usable).
# Outputs (VERSION from the workspace Cargo.toml):
#   dist/careplan-VERSION-windows-x64.zip        careplan.exe + README-ja.txt + licences
#   dist/careplan-VERSION-windows-x64-setup.exe  per-user installer (no administrator rights)
#   dist/careplan-relay-VERSION-windows-x64.zip  the relay server (operators, tests)
#   dist/build-info.txt                          wall time, sizes, toolchain
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
TARGET=x86_64-pc-windows-gnu
NICE=${NICE:-19}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

die() { echo "build.sh: ERROR: $*" >&2; exit 1; }
log() { echo "build.sh: $*" >&2; }

# --- tools -------------------------------------------------------------------------------
need_pkgs=()
command -v x86_64-w64-mingw32-gcc >/dev/null || need_pkgs+=(gcc-mingw-w64-x86-64)
command -v x86_64-w64-mingw32-windres >/dev/null || need_pkgs+=(binutils-mingw-w64-x86-64)
command -v makensis >/dev/null || need_pkgs+=(nsis)
command -v zip >/dev/null || need_pkgs+=(zip)
if ((${#need_pkgs[@]})); then
  if [[ -n "${NO_INSTALL:-}" ]]; then die "missing Debian packages: ${need_pkgs[*]}"; fi
  log "installing ${need_pkgs[*]}"
  SUDO=; [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq || die "apt-get update failed; install ${need_pkgs[*]} by hand"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${need_pkgs[@]}" \
    || die "could not install ${need_pkgs[*]}"
fi
if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  log "adding the Rust target $TARGET"
  if ! rustup target add "$TARGET"; then
    echo "################################################################################" >&2
    echo "build.sh: ERROR: 'rustup target add $TARGET' FAILED on this machine." >&2
    echo "The Windows build cannot be made here. Nothing was skipped silently: stopping." >&2
    echo "################################################################################" >&2
    exit 2
  fi
fi

VERSION=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -1)
[[ -n "$VERSION" ]] || die "no version in Cargo.toml"
NAME=careplan-$VERSION-windows-x64
DIST=$ROOT/dist
STAGE=$DIST/$NAME
RELAY_STAGE=$DIST/careplan-relay-$VERSION-windows-x64
rm -rf "$STAGE" "$RELAY_STAGE"
mkdir -p "$STAGE" "$RELAY_STAGE"

# --- cross-build -------------------------------------------------------------------------
# The shipped profile is `dist` (Cargo.toml: fat LTO, size-optimised); CAREPLAN_PROFILE=release
# for a quicker build.
PROFILE=${CAREPLAN_PROFILE:-dist}
log "cargo build --profile $PROFILE --target $TARGET (nice $NICE, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
start=$(date +%s)
nice -n "$NICE" cargo build --profile "$PROFILE" --target "$TARGET" --bin careplan --bin careplan-relay
end=$(date +%s)
OUT=$CARGO_TARGET_DIR/$TARGET/$PROFILE
for exe in careplan.exe careplan-relay.exe; do
  [[ -f "$OUT/$exe" ]] || die "$OUT/$exe was not built"
done
# The GUI exe must be a GUI-subsystem program with its resources (icon, version, manifest).
# (Output captured first: `grep -q` on a pipe would fail the pipeline under pipefail.)
pe_head=$(x86_64-w64-mingw32-objdump -p "$OUT/careplan.exe")
pe_sections=$(x86_64-w64-mingw32-objdump -h "$OUT/careplan.exe")
grep -q 'Subsystem.*(Windows GUI)' <<<"$pe_head" || die "careplan.exe is not a Windows GUI-subsystem exe"
grep -q '\.rsrc' <<<"$pe_sections" || die "careplan.exe has no resources (icon/version)"

# --- stage -------------------------------------------------------------------------------
cp "$OUT/careplan.exe" "$STAGE/"
cp "$OUT/careplan-relay.exe" "$RELAY_STAGE/"
# Text files for Notepad: CRLF line ends, UTF-8 with BOM for the Japanese README.
crlf() { sed 's/\r$//; s/$/\r/' "$1"; }
{ printf '\xef\xbb\xbf'; crlf scripts/windows/README-ja.txt; } > "$STAGE/README-ja.txt"
crlf scripts/windows/licenses/LICENSE-MIT.txt > "$STAGE/LICENSE-MIT.txt"
crlf scripts/windows/licenses/LICENSE-APACHE.txt > "$STAGE/LICENSE-APACHE.txt"
crlf assets/OFL.txt > "$STAGE/OFL.txt"
{
  echo "Third-party software compiled into careplan.exe (crate, version, licence)."
  echo "Each crate's licence text is in its source package on crates.io."
  echo "SQLite (bundled by libsqlite3-sys, used by sqlx) is in the public domain."
  echo "The font BIZ UDPGothic is under the SIL Open Font License 1.1 (OFL.txt)."
  echo
  cargo tree -q -p careplan-app --target "$TARGET" -e normal --prefix none \
    --format '{p}  [{l}]' | sed 's/ (\*)$//; s/ (proc-macro)$//' | grep -v '^careplan' | sort -u
} | sed 's/$/\r/' > "$STAGE/THIRD-PARTY.txt"
cp "$STAGE"/{LICENSE-MIT.txt,LICENSE-APACHE.txt} "$RELAY_STAGE/"
{ printf '\xef\xbb\xbf'; printf '%s\r\n' \
  "careplan-relay.exe: ケアプランデータ連携の中継サーバ（運用者・検証用）。" \
  "デモ: careplan-relay.exe demo --data C:\\careplan-demo" \
  "本番: careplan-relay.exe serve --config relay.toml（docs/relay.md を参照）" \
  "ライセンス: MIT または Apache-2.0"; } > "$RELAY_STAGE/README-ja.txt"

# --- portable zip ------------------------------------------------------------------------
ZIP=$DIST/$NAME.zip
RELAY_ZIP=$DIST/careplan-relay-$VERSION-windows-x64.zip
rm -f "$ZIP" "$RELAY_ZIP"
(cd "$DIST" && zip -q -r -X -9 "$ZIP" "$NAME" && zip -q -r -X -9 "$RELAY_ZIP" "$(basename "$RELAY_STAGE")")

# --- installer ---------------------------------------------------------------------------
SETUP=$DIST/$NAME-setup.exe
rm -f "$SETUP"
makensis -V2 -INPUTCHARSET UTF8 \
  -DVERSION="$VERSION" -DSRCDIR="$STAGE" -DOUTFILE="$SETUP" -DICON="$ROOT/assets/icon.ico" \
  scripts/windows/installer.nsi >&2 || die "makensis failed"

# --- figures -----------------------------------------------------------------------------
size() { stat -c %s "$1"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
{
  echo "version: $VERSION"
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -m)"
  echo "rustc: $(rustc --version)"
  echo "mingw: $(x86_64-w64-mingw32-gcc --version | head -1)"
  echo "makensis: $(makensis -VERSION)"
  echo "cargo build wall time: $((end - start)) s (nice $NICE)"
  echo "careplan.exe: $(size "$OUT/careplan.exe") bytes ($(mib "$(size "$OUT/careplan.exe")"))"
  echo "careplan-relay.exe: $(size "$OUT/careplan-relay.exe") bytes ($(mib "$(size "$OUT/careplan-relay.exe")"))"
  echo "$(basename "$ZIP"): $(size "$ZIP") bytes ($(mib "$(size "$ZIP")"))"
  echo "$(basename "$SETUP"): $(size "$SETUP") bytes ($(mib "$(size "$SETUP")"))"
  echo "$(basename "$RELAY_ZIP"): $(size "$RELAY_ZIP") bytes ($(mib "$(size "$RELAY_ZIP")"))"
} > "$DIST/build-info.txt"
cat "$DIST/build-info.txt"
log "done: $ZIP, $SETUP"

#!/usr/bin/env sh
# Install (or remove) the Torrazzo one-folder bundle with its menu entry and icon.
#
#   install.sh [--user | --system] [--prefix DIR] [--bundle DIR] [--uninstall]
#
# --user (default unless root): DIR=~/.local, bundle in DIR/opt/torrazzo.
# --system (default as root):   /opt/torrazzo, launcher /usr/local/bin, menu /usr/local/share.
# Works from the unpacked tarball (bundle in ./torrazzo) and from the repository after
# packaging/build.sh (bundle in dist/torrazzo).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
MODE=""; PREFIX=""; BUNDLE=""; UNINSTALL=0
while [ $# -gt 0 ]; do
  case "$1" in
    --user) MODE=user ;;
    --system) MODE=system ;;
    --prefix) PREFIX=$2; shift ;;
    --bundle) BUNDLE=$2; shift ;;
    --uninstall) UNINSTALL=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$MODE" ]; then
  if [ "$(id -u)" = 0 ]; then MODE=system; else MODE=user; fi
fi
if [ "$MODE" = system ]; then
  OPT=${PREFIX:-/opt}/torrazzo
  SHARE=${PREFIX:-/usr/local}/share
  BIN=${PREFIX:-/usr/local}/bin
else
  BASE=${PREFIX:-$HOME/.local}
  OPT=$BASE/opt/torrazzo
  SHARE=${XDG_DATA_HOME:-$BASE/share}
  [ -n "$PREFIX" ] && SHARE=$BASE/share
  BIN=$BASE/bin
fi
APPS=$SHARE/applications
ICONS=$SHARE/icons/hicolor

refresh() {
  # Menus pick the entry up without these on most desktops; run them when present.
  command -v update-desktop-database >/dev/null && update-desktop-database -q "$APPS" 2>/dev/null || true
  # Only refresh an icon cache that exists: a new, soon stale cache would hide later icons.
  if [ -f "$ICONS/icon-theme.cache" ] && command -v gtk-update-icon-cache >/dev/null; then
    gtk-update-icon-cache -q -t "$ICONS" 2>/dev/null || true
  fi
}

if [ "$UNINSTALL" = 1 ]; then
  rm -rf "$OPT"
  rm -f "$APPS/torrazzo.desktop" "$ICONS/scalable/apps/torrazzo.svg"
  for s in 48 128 256; do rm -f "$ICONS/${s}x$s/apps/torrazzo.png"; done
  if [ -L "$BIN/torrazzo" ]; then rm -f "$BIN/torrazzo"; fi
  refresh
  echo "removed Torrazzo from $OPT"
  exit 0
fi

if [ -z "$BUNDLE" ]; then
  for candidate in "$HERE/torrazzo" "$HERE/../../dist/torrazzo"; do
    if [ -x "$candidate/torrazzo" ]; then BUNDLE=$candidate; break; fi
  done
fi
if [ -z "$BUNDLE" ] || [ ! -x "$BUNDLE/torrazzo" ]; then
  echo "install.sh: no bundle found (build it first: packaging/build.sh)" >&2
  exit 1
fi
BUNDLE=$(cd "$BUNDLE" && pwd)
# Desktop file and icons: beside the script (tarball) or in the repository.
DESKTOP=$HERE/torrazzo.desktop
ICONSRC=$HERE/icons/hicolor
if [ ! -d "$ICONSRC" ]; then ICONSRC=""; fi
REPO_ICONS=$HERE/../../resources/icons

# Copy next to the target and swap, so a failed copy never leaves half an installation.
mkdir -p "$(dirname "$OPT")"
rm -rf "$OPT.new"
cp -a "$BUNDLE" "$OPT.new"
rm -rf "$OPT.old"
if [ -e "$OPT" ]; then mv "$OPT" "$OPT.old"; fi
mv "$OPT.new" "$OPT"
rm -rf "$OPT.old"

mkdir -p "$BIN" "$APPS" "$ICONS/scalable/apps"
ln -sfn "$OPT/torrazzo" "$BIN/torrazzo"
sed "s|@EXEC@|$OPT/torrazzo|g" "$DESKTOP" > "$APPS/torrazzo.desktop"
chmod 644 "$APPS/torrazzo.desktop"
for s in 48 128 256; do
  mkdir -p "$ICONS/${s}x$s/apps"
  if [ -n "$ICONSRC" ]; then
    cp "$ICONSRC/${s}x$s/apps/torrazzo.png" "$ICONS/${s}x$s/apps/torrazzo.png"
  else
    cp "$REPO_ICONS/torrazzo-$s.png" "$ICONS/${s}x$s/apps/torrazzo.png"
  fi
done
if [ -n "$ICONSRC" ]; then
  cp "$ICONSRC/scalable/apps/torrazzo.svg" "$ICONS/scalable/apps/torrazzo.svg"
else
  cp "$REPO_ICONS/torrazzo.svg" "$ICONS/scalable/apps/torrazzo.svg"
fi
refresh
echo "installed Torrazzo $(cat "$OPT/VERSION" 2>/dev/null || echo) in $OPT"
echo "  launcher $BIN/torrazzo, menu entry $APPS/torrazzo.desktop"
case ":$PATH:" in *":$BIN:"*) ;; *) echo "  note: $BIN is not on your PATH" ;; esac

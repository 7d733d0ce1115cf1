#!/usr/bin/env bash
# Debian packages the tests need: gst-rtsp-server (real RTSP test server, run by Debian's
# /usr/bin/python3 which owns python3-gi), Qt's runtime libraries, Xvfb for GL tests, ffmpeg
# for the benchmark floor. Installs only what is missing; needs root (or sudo) and apt-get.
set -euo pipefail
PKGS=(
  gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gi python3-numpy
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly
  gstreamer1.0-plugins-bad gstreamer1.0-tools
  libegl1 libgl1 libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon0 libxkbcommon-x11-0
  libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0
  libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libpulse0
  xvfb xauth ffmpeg openssl glib-networking
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

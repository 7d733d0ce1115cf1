#!/usr/bin/env bash
# Build the one-folder executable in dist/torrazzo/, smoke-test the BUILT binary, report its
# size and start-up time, and pack the Linux tarball (dist/torrazzo-VERSION-linux-ARCH.tar.gz).
#
#   packaging/build.sh              build, smoke test, tarball
#   SMOKE_RUNS=1 NO_TARBALL=1 packaging/build.sh
#
# Uses .venv (or $PYTHON) and installs PyInstaller there if it is missing. Exits non-zero if
# the build or the smoke test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
SMOKE_RUNS=${SMOKE_RUNS:-3}
if [ ! -x "$PY" ] && ! command -v "$PY" >/dev/null; then
  echo "build.sh: no Python at $PY (create .venv first: python3 -m venv .venv && .venv/bin/pip install -e .)" >&2
  exit 2
fi
if ! "$PY" -c "import PyInstaller" 2>/dev/null; then
  echo "== installing PyInstaller into $("$PY" -c 'import sys; print(sys.prefix)')"
  "$PY" -m pip install -q "pyinstaller>=6.10"
fi
VERSION=$("$PY" -c "import app; print(app.__version__)")
ARCH=$(uname -m)
echo "== PyInstaller $("$PY" -m PyInstaller --version), torrazzo $VERSION"

# The sample clip and icons are committed; regenerate them only if someone deleted them.
[ -f resources/sample/clip.mp4 ] || "$PY" packaging/make_sample_clip.py
[ -f resources/icons/torrazzo-256.png ] || "$PY" packaging/make_icons.py

rm -rf dist/torrazzo
t0=$(date +%s)
"$PY" -m PyInstaller --noconfirm --log-level "${PYI_LOG_LEVEL:-WARN}" \
  --distpath dist --workpath build/pyinstaller packaging/torrazzo.spec
echo "== built dist/torrazzo in $(( $(date +%s) - t0 )) s"

echo "== smoke test of the built binary: dist/torrazzo/torrazzo --smoke-test"
for i in $(seq 1 "$SMOKE_RUNS"); do
  start=$(date +%s%N)
  if ! out=$(dist/torrazzo/torrazzo --smoke-test 2>&1); then
    printf '%s\n' "$out"
    echo "build.sh: the smoke test of the built binary FAILED (run $i)" >&2
    exit 1
  fi
  end=$(date +%s%N)
  [ "$i" = 1 ] && printf '%s\n' "$out"
  printf 'frozen smoke test run %d: %d ms wall; %s\n' "$i" $(( (end - start) / 1000000 )) \
    "$(printf '%s\n' "$out" | sed -n 's/.*process start to first frame \([0-9.]* s\).*/first frame after \1/p')"
done

echo "== bundle size"
du -sh dist/torrazzo
du -sh dist/torrazzo/_internal/PySide6 dist/torrazzo/_internal/av.libs dist/torrazzo/_internal/sdl2dll \
  dist/torrazzo/_internal/resources dist/torrazzo/licenses 2>/dev/null || true

if [ -z "${NO_TARBALL:-}" ]; then
  name="torrazzo-$VERSION-linux-$ARCH"
  stage="build/tarball/$name"
  rm -rf build/tarball && mkdir -p "$stage/icons/hicolor/scalable/apps"
  cp -a dist/torrazzo "$stage/torrazzo"
  cp packaging/linux/install.sh packaging/linux/torrazzo.desktop packaging/linux/README.txt "$stage/"
  cp resources/icons/torrazzo.svg "$stage/icons/hicolor/scalable/apps/torrazzo.svg"
  for s in 48 128 256; do
    mkdir -p "$stage/icons/hicolor/${s}x${s}/apps"
    cp "resources/icons/torrazzo-$s.png" "$stage/icons/hicolor/${s}x${s}/apps/torrazzo.png"
  done
  tar -C build/tarball -czf "dist/$name.tar.gz" "$name"
  echo "== tarball dist/$name.tar.gz ($(du -h "dist/$name.tar.gz" | cut -f1))"
fi

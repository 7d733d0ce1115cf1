"""The PyInstaller bundle in dist/torrazzo: what it contains, and its built binary's smoke test.

Marked ``frozen``: the main test run deselects these; CI runs them after packaging/build.sh.
A missing bundle FAILS (it is never skipped): build the bundle first.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import app

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = Path(os.environ.get("TORRAZZO_BUNDLE", ROOT / "dist" / "torrazzo"))
EXE = BUNDLE / ("torrazzo.exe" if sys.platform == "win32" else "torrazzo")
INTERNAL = BUNDLE / "_internal"
SMOKE_STEPS = ("platform", "resources", "ffmpeg", "qt", "video", "onvif", "sdl", "modules")
# Qt modules the application does not use and the bundle must leave out (size, attack surface).
UNUSED_QT = ("WebEngine", "3D", "Quick3D", "Charts", "DataVisualization", "Pdf", "Designer",
             "Qml", "Quick", "Multimedia", "Bluetooth", "Location", "Graphs")  # fmt: skip

pytestmark = pytest.mark.frozen


@pytest.fixture(scope="module")
def bundle() -> Path:
    if not EXE.is_file():
        pytest.fail(f"no executable at {EXE}: build the bundle first: packaging/build.sh")
    return BUNDLE


def test_bundle_has_the_resources_and_wsdl_it_needs(bundle: Path) -> None:
    resources = INTERNAL / "resources"
    needed = [
        resources / "sites" / "cremona.yaml",
        resources / "sample" / "clip.mp4",
        resources / "icons" / "torrazzo.svg",
        bundle / "licenses" / "THIRD_PARTY.md",
        bundle / "VERSION",
    ]
    assert [str(p) for p in needed if not p.is_file()] == []
    assert (resources / "sample" / "clip.mp4").read_bytes() == (
        ROOT / "resources" / "sample" / "clip.mp4"
    ).read_bytes()
    assert (bundle / "VERSION").read_text().strip() == app.__version__

    import onvif

    source = Path(onvif.__file__).parent / "wsdl"
    wanted = {p.relative_to(source) for p in source.rglob("*") if p.suffix in (".wsdl", ".xsd")}
    bundled_dir = INTERNAL / "onvif" / "wsdl"
    bundled = {p.relative_to(bundled_dir) for p in bundled_dir.rglob("*") if p.is_file()}
    assert len(wanted) > 20  # devicemgmt, media, ptz, imaging, their schemas...
    assert sorted(map(str, wanted - bundled)) == []


def test_licences_are_collected_and_indexed(bundle: Path) -> None:
    licences = bundle / "licenses"
    index = (licences / "THIRD_PARTY.md").read_text(encoding="utf-8")
    components = ("PySide6", "shiboken6", "| av |", "pysdl2-dll", "PySDL2", "zeep", "pydantic",
                  "numpy", "ruamel.yaml", "onvif-zeep-async", "CPython")  # fmt: skip
    for component in components:
        assert component in index, component
    # The honest part: PyAV's FFmpeg is built with GPL encoders.
    assert "x264" in index
    assert "x265" in index
    assert "GPL-2.0-or-later" in index
    for text in ("pyside6-essentials/LGPL-3.txt", "av/LICENSE.txt", "av/GPL-2.txt",
                 "pysdl2-dll/SDL2-zlib-license.txt", "zeep/LICENSE", "numpy/LICENSE.txt",
                 "torrazzo/GPL-3.txt"):  # fmt: skip
        assert (licences / text).is_file(), text
    listed = re.findall(
        r"`([^`]+\.(?:txt|md|rst)|[^`]*(?:LICENSE|COPYING|NOTICE|copyright))`", index
    )
    assert len(listed) > 30
    assert [f for f in listed if not (licences / f).is_file()] == []


def test_bundle_leaves_out_unused_qt(bundle: Path) -> None:
    names = [p.name for p in INTERNAL.rglob("*")]
    unwanted = [
        n for n in names
        if any(n.startswith((f"libQt6{m}", f"Qt{m}", f"Qt6{m}")) for m in UNUSED_QT)
    ]  # fmt: skip
    assert unwanted == []
    translations = INTERNAL / "PySide6" / "Qt" / "translations"
    if translations.is_dir():
        assert all(p.name.endswith("_it.qm") for p in translations.iterdir())


def test_built_binary_passes_its_smoke_test(bundle: Path, tmp_path: Path) -> None:
    env = dict(os.environ)
    env.pop("QT_QPA_PLATFORM", None)  # the smoke test must choose offscreen by itself
    env["TORRAZZO_STATE_DIR"] = str(tmp_path)
    result = subprocess.run(
        [str(EXE), "--smoke-test"], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    if sys.platform == "win32":
        return  # a windowed Windows executable has no stdout: its exit code is the verdict
    assert "(frozen)" in result.stdout
    for step in SMOKE_STEPS:
        assert re.search(rf"^smoke: ok {step}\b", result.stdout, re.MULTILINE), step
    assert "smoke: PASSED" in result.stdout


def test_built_binary_reports_its_version(bundle: Path) -> None:
    result = subprocess.run([str(EXE), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    if sys.platform != "win32":  # windowed there: no stdout
        assert result.stdout.strip() == f"torrazzo {app.__version__}"


def test_bundle_has_the_xcb_platform_and_its_gl_integrations(bundle: Path) -> None:
    """Without xcb the binary starts only offscreen on a real X11/XWayland desktop, and
    without an xcbglintegration the GL video surface has no context there."""
    plugins = INTERNAL / "PySide6" / "Qt" / "plugins"
    assert (plugins / "platforms" / "libqxcb.so").is_file()
    glx = sorted(p.name for p in (plugins / "xcbglintegrations").glob("libqxcb-*integration.so"))
    assert glx, f"no xcbglintegrations in {plugins}"
    assert any("glx" in n or "egl" in n for n in glx), glx
    # xcb itself is a plugin over libQt6XcbQpa, which must travel with it.
    assert list(INTERNAL.rglob("libQt6XcbQpa.so*"))


def test_unpacked_bundle_is_under_300_mb(bundle: Path) -> None:
    size = sum(p.lstat().st_size for p in bundle.rglob("*") if p.is_file() and not p.is_symlink())
    assert 20 * 2**20 < size < 300 * 2**20, f"{size / 2**20:.0f} MiB"


def test_install_script_installs_launcher_menu_entry_and_icons_then_uninstalls(
    bundle: Path, tmp_path: Path
) -> None:
    prefix = tmp_path / "prefix"
    script = ROOT / "packaging" / "linux" / "install.sh"
    env = {k: v for k, v in os.environ.items() if k != "XDG_DATA_HOME"}
    env["HOME"] = str(tmp_path / "home")  # nothing may land in the real home directory

    def install(*extra: str) -> subprocess.CompletedProcess[str]:
        args = ["sh", str(script), "--user", "--prefix", str(prefix), "--bundle", str(bundle)]
        return subprocess.run([*args, *extra], capture_output=True, text=True, timeout=300, env=env)

    run = install()
    assert run.returncode == 0, run.stdout + run.stderr
    opt = prefix / "opt" / "torrazzo"
    launcher = prefix / "bin" / "torrazzo"
    assert (opt / "torrazzo").is_file()
    assert launcher.is_symlink()
    assert launcher.resolve() == (opt / "torrazzo").resolve()
    version = subprocess.run(
        [str(launcher), "--version"], capture_output=True, text=True, timeout=60, env=env
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"torrazzo {app.__version__}"

    desktop = prefix / "share" / "applications" / "torrazzo.desktop"
    entry = dict(line.split("=", 1) for line in desktop.read_text().splitlines() if "=" in line)
    assert "@" not in desktop.read_text()  # every placeholder filled in
    assert entry["Exec"] == str(opt / "torrazzo")
    assert entry["TryExec"] == str(opt / "torrazzo")
    assert entry["Icon"] == "torrazzo"
    assert entry["Type"] == "Application"

    icons = prefix / "share" / "icons" / "hicolor"
    for s in (48, 128, 256):
        png = icons / f"{s}x{s}" / "apps" / "torrazzo.png"
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", png
        # IHDR width and height, big-endian, right after the signature and chunk header.
        assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (s, s)
    assert "<svg" in (icons / "scalable" / "apps" / "torrazzo.svg").read_text()

    run = install("--uninstall")
    assert run.returncode == 0, run.stdout + run.stderr
    assert not opt.exists()
    assert not launcher.exists()
    assert not launcher.is_symlink()
    assert not desktop.exists()
    assert list(icons.rglob("torrazzo.*")) == []

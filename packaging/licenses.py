"""Collects the third-party licences of a build into licenses/ and writes THIRD_PARTY.md."""

from __future__ import annotations

import argparse
import importlib.metadata as md
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

COMMON_LICENSES = Path("/usr/share/common-licenses")  # Debian's full licence texts
LICENSE_NAME = re.compile(r"(LICEN[CS]E|COPYING|NOTICE|AUTHORS|COPYRIGHT)", re.IGNORECASE)

# What the wheels do not say themselves. Keys are canonical distribution names.
NOTES: dict[str, str] = {
    "pyside6-essentials": (
        "Qt 6 and Qt for Python (PySide6, shiboken6), used under the GNU LGPL v3. The Qt "
        "libraries are shipped as separate shared libraries in `_internal/PySide6/Qt/lib/`, "
        "so they can be replaced by a compatible build. Source: https://download.qt.io/ "
        "and https://code.qt.io/."
    ),
    "av": (
        "PyAV is BSD-3-Clause. Its wheel bundles FFmpeg (`_internal/av.libs/`: libavcodec, "
        "libavformat, libavutil, libswscale, ...), which is LGPL-2.1-or-later, **built with "
        "libx264 and libx265, which are GPL-2.0-or-later**; the other codec libraries it "
        "bundles (dav1d, libvpx, opus, SVT-AV1, lame, libwebp: BSD-style; gnutls, nettle, "
        "gmp, libunistring: LGPL) are listed at the end of this note. Because x264 and x265 "
        "are linked in, these FFmpeg binaries as a whole are under the **GNU GPL v2 or "
        "later**, and so is any distribution of this bundle: ship it with this folder, and "
        "provide (or offer in writing) the corresponding source of FFmpeg, x264 and x265 as "
        "built by the PyAV project (https://github.com/PyAV-Org/pyav-ffmpeg). Torrazzo "
        "itself is GPL-3.0-or-later, which is compatible. A build that must avoid the GPL "
        "needs an FFmpeg without x264/x265 (Torrazzo only decodes; the demo cameras encode)."
    ),
    "pysdl2-dll": (
        "SDL 2 is under the zlib licence (see README-SDL.txt); SDL2_image, SDL2_mixer, "
        "SDL2_ttf and SDL2_gfx and the libraries they bundle are listed in `libs/`."
    ),
    "pyinstaller": (
        "Only PyInstaller's bootloader (the `torrazzo` launcher) is shipped; it is GPL-2.0 "
        "with an exception that allows distributing it with programs under any licence."
    ),
}

SDL_ZLIB = """Simple DirectMedia Layer
Copyright (C) 1997-2025 Sam Lantinga <slouken@libsdl.org>

This software is provided 'as-is', without any express or implied
warranty.  In no event will the authors be held liable for any damages
arising from the use of this software.

Permission is granted to anyone to use this software for any purpose,
including commercial applications, and to alter it and redistribute it
freely, subject to the following restrictions:

1. The origin of this software must not be misrepresented; you must not
   claim that you wrote the original software. If you use this software
   in a product, an acknowledgment in the product documentation would be
   appreciated but is not required.
2. Altered source versions must be plainly marked as such, and must not be
   misrepresented as being the original software.
3. This notice may not be removed or altered from any source distribution.
"""


@dataclass
class Component:
    name: str
    version: str
    licence: str
    files: list[str] = field(default_factory=list)
    note: str = ""


def licence_of(dist: md.Distribution) -> str:
    meta = dist.metadata
    expr = meta.get("License-Expression")
    if expr:
        return str(expr)
    text = meta.get("License") or ""
    if text and len(text) < 80 and "\n" not in text:
        return str(text)
    classifiers = [
        c.split("::")[-1].strip()
        for c in meta.get_all("Classifier") or []
        if c.startswith("License ::")
    ]
    return ", ".join(classifiers) or "see files"


def runtime_closure(root: str) -> list[md.Distribution]:
    """``root`` and everything it needs at run time (no extras), as installed."""
    seen: dict[str, md.Distribution] = {}
    todo = [root]
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        seen[name] = dist
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return sorted(seen.values(), key=lambda d: canonicalize_name(d.metadata["Name"]))


def licence_files(dist: md.Distribution) -> list[tuple[Path, str]]:
    """(source file, path relative to the dist-info folder) of every licence-like file."""
    found = []
    for f in dist.files or []:
        parts = Path(f).parts
        if not parts or not parts[0].endswith(".dist-info") or f.suffix in (".pyc", ".py"):
            continue
        rel = Path(*parts[1:])
        if rel.parts[0] == "licenses" or LICENSE_NAME.search(rel.name):
            src = Path(str(dist.locate_file(f)))
            if src.is_file():
                found.append(
                    (src, str(rel.relative_to("licenses") if rel.parts[0] == "licenses" else rel))
                )
    return found


def copy_common(dest: Path, names: list[str]) -> list[str]:
    out = []
    for name in names:
        src = COMMON_LICENSES / name
        if src.is_file():
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest / f"{name}.txt")
            out.append(f"{name}.txt")
    return out


def debian_package(path: str) -> str | None:
    """The Debian package that installed ``path``, if dpkg knows it."""
    if shutil.which("dpkg-query") is None:
        return None
    real = str(Path(path).resolve())
    for candidate in dict.fromkeys((path, real, re.sub(r"^/usr", "", real))):
        r = subprocess.run(
            ["dpkg-query", "-S", candidate], capture_output=True, text=True, check=False
        )
        if r.returncode == 0 and ":" in r.stdout:
            return r.stdout.split(":", 1)[0].strip()
    return None


def collect(
    dest: Path, root: str = "torrazzo", system_libs: list[str] | None = None
) -> list[Component]:
    """Fill ``dest`` (licenses/) and write ``dest/THIRD_PARTY.md``; returns what was listed."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    components: list[Component] = []
    for dist in runtime_closure(root):
        name = canonicalize_name(dist.metadata["Name"])
        if name == canonicalize_name(root):
            files = copy_common(dest / "torrazzo", ["GPL-3"])
            components.append(Component("torrazzo", dist.version, "GPL-3.0-or-later",
                                        [f"torrazzo/{f}" for f in files]))  # fmt: skip
            continue
        comp = Component(str(dist.metadata["Name"]), dist.version, licence_of(dist))
        comp.note = NOTES.get(name, "")
        for src, rel in licence_files(dist):
            target = dest / name / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
            comp.files.append(f"{name}/{rel}")
        if name in ("pyside6-essentials", "pyside6-addons", "shiboken6"):
            # The Qt wheels carry no licence files; add the texts they name.
            comp.files += [f"{name}/{f}" for f in copy_common(dest / name, ["LGPL-3", "GPL-3"])]
        if name == "av":
            comp.files += [f"av/{f}" for f in copy_common(dest / "av", ["LGPL-2.1", "GPL-2"])]
            libs = Path(str(dist.locate_file("av.libs")))
            if libs.is_dir():
                comp.note += " Bundled libraries: " + ", ".join(
                    f"`{p.name}`" for p in sorted(libs.iterdir())
                )
        if name == "pysdl2-dll":
            (dest / name / "SDL2-zlib-license.txt").write_text(SDL_ZLIB, encoding="utf-8")
            comp.files.append(f"{name}/SDL2-zlib-license.txt")
        components.append(comp)
    components.append(python_component(dest))
    with_pyinstaller(dest, components)
    if system_libs:
        components += system_components(dest, system_libs)
    write_index(dest / "THIRD_PARTY.md", components)
    return components


def python_component(dest: Path) -> Component:
    comp = Component("CPython", sys.version.split()[0], "PSF-2.0")
    src = Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt"
    if src.is_file():
        (dest / "python").mkdir(exist_ok=True)
        shutil.copyfile(src, dest / "python" / "LICENSE.txt")
        comp.files.append("python/LICENSE.txt")
    return comp


def with_pyinstaller(dest: Path, components: list[Component]) -> None:
    try:
        dist = md.distribution("pyinstaller")
    except md.PackageNotFoundError:
        return
    comp = Component(
        "PyInstaller (bootloader)", dist.version, "GPL-2.0-or-later WITH Bootloader-exception"
    )
    comp.note = NOTES["pyinstaller"]
    for src, rel in licence_files(dist):
        (dest / "pyinstaller").mkdir(exist_ok=True)
        shutil.copyfile(src, dest / "pyinstaller" / Path(rel).name)
        comp.files.append(f"pyinstaller/{Path(rel).name}")
    components.append(comp)


def system_components(dest: Path, libs: list[str]) -> list[Component]:
    """Libraries PyInstaller took from the build machine's system: their Debian copyright."""
    by_package: dict[str, list[str]] = {}
    unknown = []
    for lib in sorted(set(libs)):
        pkg = debian_package(lib)
        if pkg is None:
            unknown.append(lib)
        else:
            by_package.setdefault(pkg, []).append(Path(lib).name)
    comps = []
    for pkg, names in sorted(by_package.items()):
        base = pkg.split(":")[0]
        comp = Component(f"{base} (Debian)", "", "see copyright", note=", ".join(names))
        copyright_file = Path("/usr/share/doc") / base / "copyright"
        if copyright_file.is_file():
            (dest / "system" / base).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(copyright_file, dest / "system" / base / "copyright")
            comp.files.append(f"system/{base}/copyright")
        comps.append(comp)
    for lib in unknown:
        comps.append(Component(Path(lib).name, "", "unknown", note=f"from {lib}; check by hand"))
    return comps


def write_index(path: Path, components: list[Component]) -> None:
    lines = [
        "# Third-party software in this Torrazzo bundle",
        "",
        "Torrazzo is free software under the GNU GPL v3 or later (`torrazzo/GPL-3.txt`).",
        "The bundle contains the components below, each under its own licence;",
        "the full texts are in the folders named. Generated by `packaging/licenses.py` at build",
        "time from the installed packages' metadata.",
        "",
        "**GPL note.** The FFmpeg libraries that come with PyAV are built with x264 and x265",
        "(GPL-2.0-or-later), so the FFmpeg part of this bundle is under the GPL, not only the",
        "LGPL; see the `av` entry.",
        "",
        "| component | version | licence | files |",
        "|---|---|---|---|",
    ]
    for c in components:
        files = "<br>".join(f"`{f}`" for f in c.files) or "—"
        lines.append(f"| {c.name} | {c.version} | {c.licence} | {files} |")
    notes = [c for c in components if c.note]
    if notes:
        lines += ["", "## Notes", ""]
        for c in notes:
            lines += [f"- **{c.name}**: {c.note}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("dest", type=Path, help="the licenses/ folder to (re)create")
    args = p.parse_args(argv)
    comps = collect(args.dest)
    sys.stdout.write(f"{args.dest}: {len(comps)} components\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

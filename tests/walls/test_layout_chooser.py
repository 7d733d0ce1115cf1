"""The main window's layout chooser lists the site's saved layouts and follows the library."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.health import StatusBoard
from app.layouts import editor as ed
from app.layouts import ops
from app.layouts.library import LayoutLibrary
from app.layouts.model import BUILTIN_LAYOUTS, Cell, WallState
from app.layouts.store import WallModel
from app.site.loader import load_site
from app.streams.engine import StreamEngine
from app.streams.worker import StreamOptions
from tests.sites import write_rtsp_site
from widgets.bridge import MainThreadBridge
from widgets.main_window import MainWindow


@pytest.fixture
def window(qtbot, tmp_path: Path):
    site = load_site(write_rtsp_site(tmp_path / "site.yaml", "rtsp://127.0.0.1:9"))
    engine = StreamEngine(StreamOptions(timeout=1.0))
    model = WallModel(WallState(), [c.id for c in site.cameras])
    win = MainWindow(site, model, engine, StatusBoard(engine), MainThreadBridge())
    qtbot.addWidget(win)
    win.show()
    yield win, model
    win.close()
    engine.shutdown(2.0)


def _items(win: MainWindow) -> list[object]:
    combo = win.layout_combo
    return [combo.itemData(i) for i in range(combo.count()) if combo.itemData(i) is not None]


def test_saved_layouts_are_listed_chosen_and_kept_current(window, tmp_path: Path) -> None:
    win, model = window
    lib_path = tmp_path / "site.layouts.json"
    lib = LayoutLibrary(lib_path)
    spec = ed.merge(ed.new_spec("Piazza", 2, 3), Cell(0, 0, 2, 2))
    lib.save("Piazza", ops.new_layout(spec, ["cam3", "cam1", "cam2"]))
    assert _items(win) == list(BUILTIN_LAYOUTS)  # no library yet: built-in ones only
    win.set_library(lib)
    assert _items(win) == [*BUILTIN_LAYOUTS, "Piazza"]
    assert win.layout_combo.itemText(win.layout_combo.findData("Piazza")) == "1. Piazza"
    # Choosing it shows the saved grid with its cameras.
    win.layout_combo.setCurrentIndex(win.layout_combo.findData("Piazza"))
    assert model.current == "Piazza"
    assert model.layout.spec.cells[0] == Cell(0, 0, 2, 2)
    assert model.layout.tiles[0].camera_id == "cam3"
    assert len(win.wall.tiles) == 3
    # A layout saved here appears at once; one saved by another workstation (another
    # LayoutLibrary on the same file) when the library notices the file changed.
    lib.save("Po", ops.new_layout("1x1", ["cam2"]))
    assert _items(win)[-2:] == ["Piazza", "Po"]
    other = LayoutLibrary(lib_path)
    other.save("Duomo", ops.new_layout("2x2", ["cam1"]))
    st = lib_path.stat()
    os.utime(lib_path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # coarse mtime clocks
    lib.refresh()
    assert _items(win)[-3:] == ["Piazza", "Po", "Duomo"]
    assert win.layout_combo.currentData() == "Piazza"  # the selection survives the refill
    # Switching by keyboard or menu moves the chooser along.
    model.set_layout("3x3")
    assert win.layout_combo.currentData() == "3x3"
    win.layout_combo.setCurrentIndex(win.layout_combo.findData("Po"))
    assert model.current == "Po"
    # Deleted while shown: it stays on screen and in the chooser, the list loses it otherwise.
    other.delete("Po")
    os.utime(lib_path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000))
    lib.refresh()
    assert model.current == "Po"
    assert win.layout_combo.currentData() == "Po"
    lib.delete("Duomo")
    assert "Duomo" not in _items(win)
    # Built-in ones still switch as before.
    win.layout_combo.setCurrentText("1+5")
    assert model.current == "1+5"

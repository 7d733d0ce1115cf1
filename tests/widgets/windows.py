"""Building the real MainWindow for widget tests."""

from __future__ import annotations

from typing import Any

from app.health import StatusBoard
from app.layouts.store import WallModel
from app.site.model import Site
from app.streams.engine import StreamEngine
from widgets.bridge import MainThreadBridge
from widgets.main_window import MainWindow


def show_main_window(qtbot: Any, site: Site, engine: StreamEngine, model: WallModel) -> MainWindow:
    """The composition a workstation runs, at 1200x800 and shown; qtbot closes it at the end."""
    win = MainWindow(site, model, engine, StatusBoard(engine), MainThreadBridge())
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    return win

"""Wall screens: one window per configured screen, screen loss, sequences and push to wall."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QRect, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDropEvent,
    QGuiApplication,
    QInputEvent,
    QKeySequence,
    QScreen,
)
from PySide6.QtWidgets import QApplication, QMainWindow, QMenu, QVBoxLayout, QWidget

from app.audit import (
    LAYOUT_EDIT,
    PTZ_TAKEOVER,
    WALL_EDIT,
    WALL_PUSH,
    AuditLog,
    LayoutAuditor,
    TakeoverTracker,
)
from app.events import Signal as CoreSignal
from app.export import SnapshotExporter
from app.health import StatusBoard
from app.layouts import ops
from app.layouts.library import LayoutLibrary, library_path_for
from app.layouts.model import BUILTIN_LAYOUTS, Layout
from app.layouts.store import WallModel, load_wall_state, save_wall_state
from app.sequences import DEFAULT_RESUME_AFTER_S, LayoutCycle, Sequencer
from app.site.model import Site
from app.streams.engine import StreamEngine
from app.users import EDIT_WALLS, User, can
from app.walls import Placement, Wall, WallBook, WallScreen, moved, place
from widgets.bridge import MainThreadBridge
from widgets.wall import QtWall

logger = logging.getLogger(__name__)
SEQUENCE_TICK_MS = 250
GUEST_FRACTION = 0.5  # a window whose screen is gone takes half the host screen


# -- screens ------------------------------------------------------------------------------------
class ScreenSet(QObject):
    """The screens a wall can use, by name, and a notice when one comes or goes."""

    changed = Signal()

    def names(self) -> list[str]:
        raise NotImplementedError

    def geometry(self, name: str) -> QRect:
        raise NotImplementedError

    def qscreen(self, name: str) -> QScreen | None:
        return None


class SystemScreens(ScreenSet):
    """The real screens (QGuiApplication.screens()); unplugging one is seen at once."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._gone: set[int] = set()
        app = QGuiApplication.instance()
        assert isinstance(app, QGuiApplication)
        app.screenAdded.connect(self._on_added)
        app.screenRemoved.connect(self._on_removed)

    @staticmethod
    def _name(screen: QScreen, index: int) -> str:
        return screen.name() or f"screen-{index + 1}"

    def _screens(self) -> dict[str, QScreen]:
        out: dict[str, QScreen] = {}
        for i, s in enumerate(QGuiApplication.screens()):
            if id(s) not in self._gone:
                out.setdefault(self._name(s, i), s)
        return out

    def names(self) -> list[str]:
        return list(self._screens())

    def geometry(self, name: str) -> QRect:
        s = self._screens().get(name)
        return s.geometry() if s is not None else QRect(0, 0, 1280, 720)

    def qscreen(self, name: str) -> QScreen | None:
        return self._screens().get(name)

    def _on_added(self, screen: QScreen) -> None:
        self._gone.discard(id(screen))
        self.changed.emit()

    def _on_removed(self, screen: QScreen) -> None:
        # During screenRemoved the screen may still be listed; leave it out from now on.
        self._gone.add(id(screen))
        self.changed.emit()


class VirtualScreens(ScreenSet):
    """Named screens laid side by side, shown as plain windows (tests, one-monitor trials)."""

    def __init__(
        self,
        names: Sequence[str],
        size: tuple[int, int] = (960, 540),
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._all = list(names)
        self._present = list(names)
        self._size = size

    def names(self) -> list[str]:
        return list(self._present)

    def geometry(self, name: str) -> QRect:
        i = self._all.index(name) if name in self._all else 0
        w, h = self._size
        return QRect(i * w, 0, w, h)

    def unplug(self, name: str) -> None:
        if name in self._present:
            self._present.remove(name)
            self.changed.emit()

    def plug(self, name: str) -> None:
        if name not in self._present:
            if name not in self._all:
                self._all.append(name)
            self._present = [n for n in self._all if n in self._present or n == name]
            self.changed.emit()


# -- recall and sequences ----------------------------------------------------------------------
def recall_layout(model: WallModel, name: str, library: LayoutLibrary | None) -> bool:
    """Show layout ``name``: a saved one as saved (grid and cameras), or a built-in one."""
    entry = library.get(name) if library is not None else None
    if entry is not None:
        model.put_layout(entry.name, entry.layout)
        return True
    if name in BUILTIN_LAYOUTS or name in model.names():
        model.set_layout(name)
        return True
    logger.warning("no layout named %r to show", name)
    return False


class SequenceDriver(QObject):
    """Runs a Sequencer against a WallModel: saved layouts' tile camera cycles, a screen's
    layout cycle, and a pause whenever the operator touches ``window``.

    ``automatic`` is True while a change is applied that is nobody's action (a cycle step)
    or is audited as one entry of its own (a push, a wall configuration edit), so the
    composition root keeps it out of the layout-change audit.
    """

    INTERACTION = (
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseButtonDblClick,
        QEvent.Type.KeyPress,
        QEvent.Type.Wheel,
        QEvent.Type.Drop,
    )

    def __init__(
        self,
        model: WallModel,
        window: QWidget,
        library: LayoutLibrary | None,
        clock: Callable[[], float] = time.monotonic,
        resume_after_s: float = DEFAULT_RESUME_AFTER_S,
        timer: bool = True,
    ) -> None:
        super().__init__(window)
        self.model = model
        self.window = window
        self.library = library
        self.sequencer = Sequencer(clock, resume_after_s)
        self.automatic = False
        self._layout_name = ""
        self._filtering = False
        model.changed.connect(self._on_model_changed)
        if library is not None:
            library.changed.connect(self._reconfigure)
        self._reconfigure()
        self._timer: QTimer | None = None
        if timer:
            self._timer = QTimer(self)
            self._timer.timeout.connect(self.tick)
            self._timer.start(SEQUENCE_TICK_MS)

    def _on_model_changed(self, _layout: Layout) -> None:
        if self.model.current != self._layout_name:
            self._reconfigure()

    def _reconfigure(self) -> None:
        self._layout_name = self.model.current
        entry = self.library.get(self._layout_name) if self.library is not None else None
        self.sequencer.clear_tiles()
        if entry is None:
            return
        for index, cycle in entry.cycles.items():
            if index < len(self.model.layout.tiles):
                self.sequencer.set_tile_cycle(index, cycle)
        self._sync_filter()

    def set_layout_cycle(self, cycle: LayoutCycle | None) -> None:
        """The screen's layout cycle (None: none)."""
        self.sequencer.set_layout_cycle(cycle)
        self._sync_filter()

    @property
    def watches_input(self) -> bool:
        """Whether the application's input events reach this driver (only with cycles)."""
        return self._filtering

    def _sync_filter(self) -> None:
        """Watch the application's events only while there is a cycle to pause.

        An application-wide filter is called for every event of every object (a 4x4 wall:
        ~600 a second, paints and timers) and PySide wraps each one for Python before the
        filter can ignore it: ~5 % of the GUI thread's time on a maximised stream (py-spy).
        Without cycles a touch pauses nothing, so most walls need no filter at all.
        """
        want = bool(self.sequencer.tiles or self.sequencer.layouts)
        app = QApplication.instance()
        if want == self._filtering or app is None:
            return
        if want:
            app.installEventFilter(self)
        else:
            app.removeEventFilter(self)
        self._filtering = want

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        # Installed on the application, so it sees every event (paints, timers: thousands a
        # second on a video wall); the isinstance test is far cheaper than event.type().
        if not isinstance(event, (QInputEvent, QDropEvent)):
            return False
        if (
            event.type() in self.INTERACTION
            and isinstance(obj, QWidget)
            and obj.window() is self.window
            and not self.automatic
        ):
            self.sequencer.touch()
        return False

    def tick(self) -> None:
        steps = self.sequencer.poll()
        if not steps:
            return
        self.automatic = True
        try:
            for step in steps:
                if step.kind == "layout":
                    recall_layout(self.model, step.item, self.library)
                elif step.kind == "tile" and isinstance(step.key, int):
                    index, camera = step.key, step.item
                    if index < len(self.model.layout.tiles):
                        self.model.apply(
                            lambda lay, i=index, c=camera: (
                                ops.assign(lay, i, c) if lay.tiles[i].camera_id != c else lay
                            )
                        )
        finally:
            self.automatic = False

    def close(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        app = QApplication.instance()
        if app is not None and self._filtering:
            app.removeEventFilter(self)
            self._filtering = False


# -- the wall windows ---------------------------------------------------------------------------
class WallWindow(QWidget):
    """One wall screen: a frameless QtWall, full screen on its own screen."""

    def __init__(
        self,
        slot: int,
        label: str,
        model: WallModel,
        site: Site,
        engine: StreamEngine,
        board: StatusBoard,
        bridge: MainThreadBridge,
    ) -> None:
        super().__init__(None)
        self.slot = slot
        self.label = label
        self.placement: Placement | None = None
        self.closing = False
        self.wall = QtWall(model, site, engine, board, bridge, self)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.wall)
        self.setObjectName(f"wall-screen-{slot + 1}")
        model.changed.connect(lambda _layout: self._retitle())
        self._retitle()

    def _retitle(self) -> None:
        where = ""
        if self.placement is not None and not self.placement.home:
            where = f" — on {self.placement.screen} (its screen is gone)"
        self.setWindowTitle(
            f"Torrazzo wall {self.slot + 1}: {self.label} — {self.wall.model.layout.title}{where}"
        )

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.closing:  # a wall screen goes only with the application
            event.ignore()
            return
        self.wall.close_feeds()
        super().closeEvent(event)


class WallController(QObject):
    """Opens one WallWindow per wall screen, keeps each on a present screen, pushes to them.

    Events (core signals, GUI thread):
        wall_changed(Wall): a screen's layout changed (to be saved).
        pushed(int, str, str): slot, "camera" or "layout", what was pushed.
    """

    def __init__(
        self,
        wall: Wall,
        models: Sequence[WallModel],
        screens: ScreenSet,
        site: Site,
        engine: StreamEngine,
        board: StatusBoard,
        bridge: MainThreadBridge,
        library: LayoutLibrary | None = None,
        fullscreen: bool = True,
        avoid: Sequence[str] = (),
        clock: Callable[[], float] = time.monotonic,
        resume_after_s: float = DEFAULT_RESUME_AFTER_S,
        timers: bool = True,
    ) -> None:
        super().__init__()
        if len(models) != len(wall.screens):
            raise ValueError("one WallModel per wall screen")
        self.wall = wall
        self.models = list(models)
        self.screens = screens
        self.library = library
        self.fullscreen = fullscreen
        self.avoid = list(avoid)
        self.wall_changed: CoreSignal[[Wall]] = CoreSignal()
        self.pushed: CoreSignal[[int, str, str]] = CoreSignal()
        self.windows: list[WallWindow] = []
        self.drivers: list[SequenceDriver] = []
        self.placements: tuple[Placement, ...] = ()
        for slot, (ws, model) in enumerate(zip(wall.screens, self.models, strict=True)):
            win = WallWindow(slot, ws.label, model, site, engine, board, bridge)
            self.windows.append(win)
            driver = SequenceDriver(model, win, library, clock, resume_after_s, timer=timers)
            driver.set_layout_cycle(ws.cycle)
            self.drivers.append(driver)
            model.changed.connect(lambda _layout, s=slot: self._on_slot_changed(s))
        screens.changed.connect(self.replace_windows)
        self.replace_windows()

    # -- placement ----------------------------------------------------------------------------
    def replace_windows(self) -> None:
        """Place (again) every window on a present screen; only moved windows are touched."""
        new = place(self.wall, self.screens.names(), self.avoid)
        changed = set(moved(self.placements, new)) if self.placements else {p.slot for p in new}
        guests: dict[str, int] = {}
        for p in new:
            if not p.home:
                guests[p.screen] = guests.get(p.screen, 0) + 1
            if p.slot in changed:
                self._show(self.windows[p.slot], p, guests.get(p.screen, 0))
        placed = {p.slot for p in new}
        for win in self.windows:
            if win.slot not in placed:
                win.hide()  # no screen at all: nothing to show it on
        self.placements = new

    def _show(self, win: WallWindow, p: Placement, guest_no: int) -> None:
        win.placement = p
        geo = self.screens.geometry(p.screen)
        qs = self.screens.qscreen(p.screen)
        if qs is not None:
            win.setScreen(qs)
        if p.home:
            win.setWindowFlag(Qt.WindowType.FramelessWindowHint, self.fullscreen)
            win.setGeometry(geo)
            if self.fullscreen:
                win.showFullScreen()
            else:
                win.showNormal()
        else:
            # A guest keeps a frame so that the operator can move it where it hides least.
            win.setWindowFlag(Qt.WindowType.FramelessWindowHint, False)
            w, h = int(geo.width() * GUEST_FRACTION), int(geo.height() * GUEST_FRACTION)
            step = 40 * max(0, guest_no - 1)
            win.showNormal()
            win.setGeometry(geo.x() + geo.width() - w - step, geo.y() + step + 30, w, h)
        win._retitle()
        logger.info(
            "wall screen %d (%s) on %s%s",
            p.slot + 1,
            self.wall.screens[p.slot].screen,
            p.screen,
            "" if p.home else " as a guest window",
        )

    # -- model → wall config ------------------------------------------------------------------
    def _on_slot_changed(self, slot: int) -> None:
        name = self.models[slot].current
        if self.wall.screens[slot].layout != name:
            self.wall = self.wall.with_layout(slot, name)
            self.wall_changed.emit(self.wall)

    # -- push to wall -------------------------------------------------------------------------
    def push_camera(self, slot: int, camera_id: str, tile: int | None = None) -> None:
        """Show a camera on a wall screen: in ``tile``, else the screen's focused tile."""
        model = self.models[slot]
        index = model.layout.focused if tile is None else tile
        driver = self.drivers[slot]
        driver.sequencer.touch()  # what was pushed stays until someone moves on
        driver.automatic = True  # the push is audited as one (``pushed``), not as a change too
        try:
            model.apply(lambda lay: ops.assign(lay, index, camera_id))
        finally:
            driver.automatic = False
        self.pushed.emit(slot, "camera", camera_id)

    def push_layout(self, slot: int, name: str, layout: Layout | None = None) -> None:
        """Show a layout on a wall screen: ``layout`` as given (an operator's current one, with
        its cameras), else the saved or built-in layout called ``name``."""
        driver = self.drivers[slot]
        driver.sequencer.touch()
        driver.automatic = True
        try:
            if layout is not None:
                self.models[slot].put_layout(name, layout)
            else:
                recall_layout(self.models[slot], name, self.library)
        finally:
            driver.automatic = False
        self.pushed.emit(slot, "layout", name)

    def apply_wall(self, wall: Wall) -> None:
        """A supervisor changed this wall's configuration (name, layouts, cycles): apply it to
        the running screens, matched by screen name. Not audited as layout switches: the
        configuration edit has its own entry."""
        by_screen = {ws.screen: ws for ws in wall.screens}
        screens = list(self.wall.screens)
        for slot, ws in enumerate(screens):
            cfg = by_screen.get(ws.screen)
            if cfg is not None:
                screens[slot] = replace(ws, layout=cfg.layout, cycle=cfg.cycle, title=cfg.title)
        # The new wall first, so that the layout switches below find nothing to report.
        self.wall = Wall(wall.name, tuple(screens))
        for slot, ws in enumerate(screens):
            driver = self.drivers[slot]
            driver.set_layout_cycle(ws.cycle)
            if self.models[slot].current != ws.layout:
                driver.automatic = True
                try:
                    recall_layout(self.models[slot], ws.layout, self.library)
                finally:
                    driver.automatic = False

    def tick(self) -> None:
        for d in self.drivers:
            d.tick()

    def close(self) -> None:
        for d in self.drivers:
            d.close()
        for win in self.windows:
            win.closing = True
            win.close()


def add_wall_menu(window: QMainWindow, controller: WallController) -> QMenu:
    """Push to wall from the operator's window: the focused camera (Ctrl+Shift+N) or the
    current layout with its cameras (Ctrl+Alt+N) to wall screen N."""
    menu = window.menuBar().addMenu("&Wall")
    wall_view = window.wall  # type: ignore[attr-defined]
    for slot, ws in enumerate(controller.wall.screens):
        act = QAction(f"Send camera to screen {slot + 1} ({ws.label})", window)
        if slot < 9:
            act.setShortcut(QKeySequence(f"Ctrl+Shift+{slot + 1}"))

        def send_camera(_: bool = False, s: int = slot) -> None:
            lay = wall_view.model.layout
            cam = lay.tiles[lay.focused].camera_id
            if cam is not None:
                controller.push_camera(s, cam)

        act.triggered.connect(send_camera)
        menu.addAction(act)
    menu.addSeparator()
    for slot, ws in enumerate(controller.wall.screens):
        act = QAction(f"Send layout to screen {slot + 1} ({ws.label})", window)
        if slot < 9:
            act.setShortcut(QKeySequence(f"Ctrl+Alt+{slot + 1}"))

        def send_layout(_: bool = False, s: int = slot) -> None:
            model = wall_view.model
            controller.push_layout(s, model.current, model.layout)

        act.triggered.connect(send_layout)
        menu.addAction(act)
    return menu


# -- composition: what widgets.main attaches for walls, saved layouts, sequences and audit ----
@dataclass
class Supervision:
    """The issue-7 features attached to a running application, closed together at exit."""

    user: User
    audit: AuditLog
    library: LayoutLibrary
    saved: QObject  # widgets.layout_editor.SavedLayouts
    main_driver: SequenceDriver
    walls: WallController | None
    keep: list[object] = field(default_factory=list)  # auditors and savers kept alive
    exporter: SnapshotExporter | None = None
    tile_actions: list[QObject] = field(default_factory=list)  # widgets.export.TileActions
    book: WallBook | None = None
    walls_dialog: QWidget | None = None  # widgets.wall_config.WallsDialog, once opened
    screen_names: list[str] = field(default_factory=list)

    def open_walls_dialog(self) -> QWidget | None:
        """The walls configuration (supervisors only); None for anyone else."""
        from widgets.wall_config import WallsDialog, may_configure_walls

        if self.book is None or not may_configure_walls(self.user):
            return None
        if self.walls_dialog is None:
            parent = self.saved.window  # type: ignore[attr-defined]
            self.walls_dialog = WallsDialog(self.book, self.library, self.screen_names, parent)
        self.walls_dialog.show()
        return self.walls_dialog

    def close(self) -> None:
        self.main_driver.close()
        self.saved.close()  # type: ignore[attr-defined]
        if self.walls is not None:
            self.walls.close()
        if self.exporter is not None:
            self.exporter.close()  # snapshots asked for are written before the log closes


def wall_screens(spec: str) -> tuple[ScreenSet, list[str], bool, list[str]]:
    """``--wall`` → (screens, wall screen names, full screen?, screens to avoid).

    ``auto``: every screen but the primary one; ``windows:N``: N plain windows (tests and
    trials on one monitor); else a comma-separated list of screen names.
    """
    if spec.startswith("windows:"):
        n = max(1, int(spec.partition(":")[2] or "1"))
        names = [f"wall-{i + 1}" for i in range(n)]
        return VirtualScreens(names), names, False, []
    screens = SystemScreens()
    primary = QGuiApplication.primaryScreen()
    present = screens.names()
    primary_name = next(
        (n for n in present if screens.qscreen(n) is primary), present[0] if present else ""
    )
    if spec == "auto":
        names = [n for n in present if n != primary_name]
    else:
        names = [n.strip() for n in spec.split(",") if n.strip()]
    return screens, names, True, [primary_name] if primary_name else []


def attach_supervision(
    args: argparse.Namespace,
    session: object,  # widgets.login.Session
    window: QMainWindow,
    model: WallModel,
    site: Site,
    engine: StreamEngine,
    board: StatusBoard,
    bridge: MainThreadBridge,
    state_dir: Path,
    slug: str,
    ptz: object = None,  # widgets.ptz_control.PtzWallAttachment, for take-over audit
) -> Supervision:
    """Saved layouts (menu, Alt+N, number pad), sequences, wall screens (``--wall``) and the
    audit of layout edits, pushes and PTZ take-overs."""
    from widgets.layout_editor import SavedLayouts

    user: User = session.user  # type: ignore[attr-defined]
    audit: AuditLog = session.audit  # type: ignore[attr-defined]
    lib_path = getattr(args, "layouts", None) or library_path_for(
        None if getattr(args, "demo", False) else getattr(args, "site", None), slug, state_dir
    )
    library = LayoutLibrary(Path(lib_path))

    def audit_safely(action: str, **details: object) -> None:
        try:
            audit.append(action, **details)
        except OSError as e:
            logger.error("cannot write the audit log %s: %s", audit.path, e)

    library.edited.connect(lambda op, details: audit_safely(LAYOUT_EDIT, op=op, **details))
    from widgets.export import TileActions, add_export_action
    from widgets.optic_actions import add_optic_actions
    from widgets.wall_config import TileSequenceMenu

    saved = SavedLayouts(window, library, user)
    export_dir = getattr(args, "export_dir", None) or state_dir / "exports"
    exporter = SnapshotExporter(Path(export_dir), user, audit)
    tile_actions: list[QObject] = []

    def status(text: str) -> None:
        window.statusBar().showMessage(text, 8000)

    main_actions = TileActions(window.wall, engine, exporter, bridge, "main", status)  # type: ignore[attr-defined]
    tile_actions.append(main_actions)
    add_export_action(window, main_actions)
    set_library = getattr(window, "set_library", None)  # MainWindow's layout chooser
    if set_library is not None:
        set_library(library)
    main_driver = SequenceDriver(model, window, library)
    keep: list[object] = [LayoutAuditor(audit, model, "main", skip=lambda: main_driver.automatic)]
    controller = None
    book = WallBook.load(state_dir / f"walls-{slug}.json")
    book.edited.connect(lambda op, details: audit_safely(WALL_EDIT, op=op, **details))
    screen_names: list[str] = []
    if getattr(args, "wall", None):
        screens, names, fullscreen, avoid = wall_screens(args.wall)
        screen_names = screens.names()
        wall = _running_wall(book, names)
        cams = [c.id for c in site.cameras]
        models: list[WallModel] = []
        for i, ws in enumerate(wall.screens):
            path = state_dir / f"wall-{slug}-screen-{i + 1}.json"
            m = WallModel(load_wall_state(path), cams)
            if m.current != ws.layout:
                recall_layout(m, ws.layout, library)

            def save_slot(_layout: object = None, m: WallModel = m, path: Path = path) -> None:
                try:
                    save_wall_state(path, m.state())
                except OSError as e:
                    logger.error("cannot save %s: %s", path, e)

            m.changed.connect(save_slot)
            models.append(m)
        controller = WallController(
            wall, models, screens, site, engine, board, bridge, library, fullscreen, avoid
        )
        for i, (m, d) in enumerate(zip(models, controller.drivers, strict=True)):
            keep.append(LayoutAuditor(audit, m, f"wall {i + 1}", skip=lambda d=d: d.automatic))

        def put_wall(w: Wall) -> None:
            try:
                book.put(w)
            except OSError as e:
                logger.error("cannot save %s: %s", book.path, e)

        controller.wall_changed.connect(put_wall)
        put_wall(controller.wall)
        ctl = controller

        def on_book_changed() -> None:
            # A supervisor's edit of the running wall takes effect on its screens at once.
            if book.running in book and book.get(book.running) != ctl.wall:
                ctl.apply_wall(book.get(book.running))

        book.changed.connect(on_book_changed)
        controller.pushed.connect(
            lambda slot, kind, what: audit_safely(
                WALL_PUSH,
                screen=slot + 1,
                kind=kind,
                what=what,
                to=ctl.wall.screens[slot].screen,
                wall=ctl.wall.name,
            )
        )
        menu = add_wall_menu(window, controller)
        for i, win in enumerate(controller.windows):
            tile_actions.append(
                TileActions(win.wall, engine, exporter, bridge, f"wall {i + 1}", status)
            )
        keep.append(_CloseWith(window, controller.close))
    else:
        menu = window.menuBar().addMenu("&Wall")
        screen_names = [s.name() for s in QGuiApplication.screens()]
    # Camera sequences from a tile's context menu, on the operator's wall and every screen.
    walls_views = [(model, window.wall)] + (  # type: ignore[attr-defined]
        [(m, w.wall) for m, w in zip(controller.models, controller.windows, strict=True)]
        if controller is not None
        else []
    )
    for (m, view), acts in zip(walls_views, tile_actions, strict=True):
        seq = TileSequenceMenu(m, library, site, user, view, status)
        acts.entries.append(seq.add_to)  # type: ignore[attr-defined]
        keep.append(seq)
    # "All optics" on the toolbar, and the optic entries after the sequence in the tile menu.
    add_optic_actions(window, window.wall, main_actions)  # type: ignore[attr-defined]
    if ptz is not None:
        keep.append(_audit_ptz_takeovers(ptz, model, audit_safely))
    sup = Supervision(
        user, audit, library, saved, main_driver, controller, keep, exporter, tile_actions,
        book, None, screen_names,
    )  # fmt: skip
    menu.addSeparator()
    configure = menu.addAction("Configure walls…")
    configure.setEnabled(can(user, EDIT_WALLS))
    configure.triggered.connect(lambda: sup.open_walls_dialog())
    return sup


def _running_wall(book: WallBook, names: Sequence[str]) -> Wall:
    """The wall of the book over exactly these screens (what this workstation shows), or a
    new one; its screens in ``names``' order, each keeping the layout it had."""
    found = next(
        (
            book.get(n)
            for n in book.names()
            if {s.screen for s in book.get(n).screens} == set(names)
        ),
        None,
    )
    if found is None:
        name = next(n for n in ("wall", *(f"wall {i}" for i in range(2, 100))) if n not in book)
        found = Wall(name, ())
    by_screen = {ws.screen: ws for ws in found.screens}
    book.running = found.name
    return Wall(found.name, tuple(by_screen.get(n, WallScreen(n)) for n in names))


class _CloseWith(QObject):
    """Runs ``fn`` when ``window`` closes: wall screens go with the operator's window."""

    def __init__(self, window: QWidget, fn: Callable[[], None]) -> None:
        super().__init__(window)
        self._fn = fn
        window.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close:
            self._fn()
        return False


def _audit_ptz_takeovers(
    ptz: object, model: WallModel, audit: Callable[..., None]
) -> TakeoverTracker:
    """An audit entry when someone starts steering a dome (not one per joystick nudge)."""
    tracker = TakeoverTracker()
    hooked: set[int] = set()

    def hook(_layout: object = None) -> None:
        for want, _tile, ctl in list(getattr(ptz, "controllers", {}).values()):
            session = getattr(ctl, "session", None)
            if session is None or id(session) in hooked or want is None:
                continue
            hooked.add(id(session))
            camera = f"{want[0]}#{want[1] + 1}" if want[1] else want[0]

            def on_input(
                camera: str = camera, session: object = session, ctl: object = ctl
            ) -> None:
                # manual_input also comes with a release (focus lost, window closed): look
                # once the input is handled, and count only a wanted move or a new aim.
                aims = len(getattr(ctl, "aims", ()))

                def check() -> None:
                    wanted = getattr(session, "wanted", None)
                    steering = wanted is not None and not wanted.is_zero
                    if (steering or len(getattr(ctl, "aims", ())) > aims) and tracker.input(camera):
                        audit(PTZ_TAKEOVER, camera=camera)

                QTimer.singleShot(0, check)

            session.manual_input.connect(on_input)

    model.changed.connect(hook)
    hook()
    return tracker

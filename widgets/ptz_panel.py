"""PtzPanel: a dome's presets (go, save and rename for supervisors, home) and its tour."""

from __future__ import annotations

import concurrent.futures
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.onvif.errors import OnvifError
from app.onvif.model import PtzPresetInfo
from app.ptz.controller import PtzController
from app.ptz.session import PtzSession
from app.ptz.tour import Tour, TourRunner, TourStep, load_tours, save_tours
from widgets.bridge import MainThreadBridge
from widgets.ptz_control import PtzWallAttachment

TOUR_TICK_MS = 100


class PtzPanel(QWidget):
    """Presets of one dome. Operators go to a preset or home and run a tour of the presets;
    supervisors also save the current position as a preset and rename presets (ONVIF has no
    rename-only call: renaming stores the current position under the new name too).

    Tours: the editor holds an ordered list of steps (a preset and its dwell); "Start tour"
    runs them, or every preset in list order, ``dwell`` seconds each, when the editor is
    empty. Named tours are saved to ``tours_path`` (one file per dome) and chosen from a
    list. A tour stops at the operator's first manual input on ``session``.
    Thread: GUI only; calls go out as futures.
    """

    def __init__(
        self,
        controller: PtzController,
        bridge: MainThreadBridge,
        *,
        supervisor: bool = False,
        session: PtzSession | None = None,
        clock: Callable[[], float] = time.monotonic,
        tours_path: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.bridge = bridge
        self.supervisor = supervisor
        self.session = session
        self._clock = clock
        self.presets: list[PtzPresetInfo] = []
        self.tour: TourRunner | None = None
        self.list = QListWidget(self)
        self.list.itemDoubleClicked.connect(lambda _item: self.go())
        self.name = QLineEdit(self)
        self.name.setPlaceholderText("preset name")
        self.go_button = QPushButton("Go", self)
        self.home_button = QPushButton("Home", self)
        self.save_button = QPushButton("Save as new", self)
        self.rename_button = QPushButton("Rename", self)
        self.refresh_button = QPushButton("Refresh", self)
        self.dwell = QDoubleSpinBox(self)
        self.dwell.setRange(1.0, 600.0)
        self.dwell.setValue(10.0)
        self.dwell.setSuffix(" s")
        self.tour_button = QPushButton("Start tour", self)
        # The tour editor.
        self.tours_path = tours_path
        self.tours: list[Tour] = load_tours(tours_path) if tours_path is not None else []
        self.tour_choice = QComboBox(self)
        self.tour_choice.activated.connect(lambda _i: self.load_chosen_tour())
        self.steps = QListWidget(self)
        self.tour_name = QLineEdit(self)
        self.tour_name.setPlaceholderText("tour name")
        self.add_step_button = QPushButton("Add preset", self)
        self.up_button = QPushButton("Up", self)
        self.down_button = QPushButton("Down", self)
        self.remove_step_button = QPushButton("Remove", self)
        self.save_tour_button = QPushButton("Save tour", self)
        self.save_tour_button.setEnabled(tours_path is not None)
        self.message = QLabel("", self)
        self.message.setWordWrap(True)
        for b, slot in (
            (self.go_button, self.go),
            (self.home_button, self.home),
            (self.save_button, self.save_new),
            (self.rename_button, self.rename),
            (self.refresh_button, self.refresh),
            (self.tour_button, self.toggle_tour),
            (self.add_step_button, self.add_step),
            (self.up_button, lambda: self.move_step(-1)),
            (self.down_button, lambda: self.move_step(1)),
            (self.remove_step_button, self.remove_step),
            (self.save_tour_button, self.save_tour),
        ):
            b.clicked.connect(slot)
        self.save_button.setVisible(supervisor)
        self.rename_button.setVisible(supervisor)
        self.name.setVisible(supervisor)
        row = QHBoxLayout()
        for b in (self.go_button, self.home_button, self.refresh_button):
            row.addWidget(b)
        edit = QHBoxLayout()
        edit.addWidget(self.name)
        edit.addWidget(self.save_button)
        edit.addWidget(self.rename_button)
        tour = QHBoxLayout()
        tour.addWidget(QLabel("dwell", self))
        tour.addWidget(self.dwell)
        tour.addWidget(self.tour_button)
        lay = QVBoxLayout(self)
        lay.addWidget(self.list)
        lay.addLayout(row)
        lay.addLayout(edit)
        lay.addWidget(self.tour_choice)
        lay.addWidget(self.steps)
        steps = QHBoxLayout()
        for b in (self.add_step_button, self.up_button, self.down_button):
            steps.addWidget(b)
        steps.addWidget(self.remove_step_button)
        named = QHBoxLayout()
        named.addWidget(self.tour_name)
        named.addWidget(self.save_tour_button)
        lay.addLayout(steps)
        lay.addLayout(named)
        lay.addLayout(tour)
        lay.addWidget(self.message)
        self._show_tours()
        self._tour_timer = QTimer(self)
        self._tour_timer.setInterval(TOUR_TICK_MS)
        self._tour_timer.timeout.connect(self._tour_tick)
        self.refresh()

    # --- calls (futures → bridge) ----------------------------------------------------------

    def _after(self, future: concurrent.futures.Future[Any], then: Callable[[Any], None]) -> None:
        def done(f: concurrent.futures.Future[Any]) -> None:
            self.bridge.post(lambda: self._deliver(f, then))

        future.add_done_callback(done)

    def _deliver(self, f: concurrent.futures.Future[Any], then: Callable[[Any], None]) -> None:
        if f.cancelled() or not shiboken6.isValid(self.message):
            return  # the panel was replaced (another tile focused) before the answer came
        exc = f.exception()
        if exc is not None:
            self.message.setText(exc.message if isinstance(exc, OnvifError) else str(exc))
            return
        then(f.result())

    def refresh(self) -> None:
        self._after(self.controller.presets(), self._show_presets)

    def _show_presets(self, presets: list[PtzPresetInfo]) -> None:
        selected = self.selected_token()
        self.presets = list(presets)
        self.list.clear()
        for p in self.presets:
            item = QListWidgetItem(p.name)
            item.setData(Qt.ItemDataRole.UserRole, p.token)
            self.list.addItem(item)
            if p.token == selected:
                self.list.setCurrentItem(item)
        if self.list.currentItem() is None and self.list.count():
            self.list.setCurrentRow(0)
        self.tour_button.setEnabled(bool(self.presets) or self.tour is not None)

    def selected_token(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None else str(item.data(Qt.ItemDataRole.UserRole))

    def go(self) -> None:
        token = self.selected_token()
        if token is None:
            return
        self._manual()
        self._after(self.controller.goto_preset(token), lambda _ok: self.message.setText(""))

    def home(self) -> None:
        self._manual()
        self._after(self.controller.goto_home(), lambda _ok: self.message.setText(""))

    def save_new(self) -> None:
        if not self.supervisor:
            return
        name = self.name.text().strip() or None
        self._after(self.controller.set_preset(name), lambda _token: self.refresh())

    def rename(self) -> None:
        token, name = self.selected_token(), self.name.text().strip()
        if not self.supervisor or token is None or not name:
            return
        self._after(self.controller.set_preset(name, token), lambda _token: self.refresh())

    # --- tour --------------------------------------------------------------------------------

    def _manual(self) -> None:
        # Through the session when there is one, so every listener (this panel's tour, and
        # any other) sees the same manual input as from the mouse, keys or joystick.
        if self.session is not None:
            self.session.manual_input.emit()
        if self.tour is not None:
            self.tour.stop("manual input")

    def _preset_name(self, token: str) -> str:
        return next((p.name for p in self.presets if p.token == token), token)

    def _step_item(self, step: TourStep) -> QListWidgetItem:
        item = QListWidgetItem(f"{self._preset_name(step.preset)} · {step.dwell_s:g} s")
        item.setData(Qt.ItemDataRole.UserRole, (step.preset, step.dwell_s))
        return item

    def edited_steps(self) -> tuple[TourStep, ...]:
        """The editor's steps, in order."""
        out = []
        for i in range(self.steps.count()):
            token, dwell = self.steps.item(i).data(Qt.ItemDataRole.UserRole)
            out.append(TourStep(str(token), float(dwell)))
        return tuple(out)

    def _set_steps(self, steps: tuple[TourStep, ...]) -> None:
        self.steps.clear()
        for step in steps:
            self.steps.addItem(self._step_item(step))

    def add_step(self) -> None:
        """The selected preset, with the dwell box's time, at the end of the tour."""
        token = self.selected_token()
        if token is not None:
            self.steps.addItem(self._step_item(TourStep(token, self.dwell.value())))
            self.steps.setCurrentRow(self.steps.count() - 1)

    def move_step(self, delta: int) -> None:
        row = self.steps.currentRow()
        to = row + delta
        if row < 0 or not 0 <= to < self.steps.count():
            return
        item = self.steps.takeItem(row)
        self.steps.insertItem(to, item)
        self.steps.setCurrentRow(to)

    def remove_step(self) -> None:
        row = self.steps.currentRow()
        if row >= 0:
            self.steps.takeItem(row)

    def _show_tours(self) -> None:
        self.tour_choice.clear()
        self.tour_choice.addItem("(new tour)")
        for t in self.tours:
            self.tour_choice.addItem(t.name)

    def load_chosen_tour(self) -> None:
        """Put the tour chosen in the list into the editor (index 0: a new, empty tour)."""
        i = self.tour_choice.currentIndex() - 1
        tour = self.tours[i] if 0 <= i < len(self.tours) else None
        self.tour_name.setText(tour.name if tour else "")
        self._set_steps(tour.steps if tour else ())

    def save_tour(self) -> None:
        """Save the editor's steps under its name (replacing a tour of that name)."""
        name, steps = self.tour_name.text().strip(), self.edited_steps()
        if self.tours_path is None or not name or not steps:
            self.message.setText("a tour needs a name and at least one preset")
            return
        tour = Tour(name, steps)
        self.tours = [t for t in self.tours if t.name != name] + [tour]
        try:
            save_tours(self.tours_path, self.tours)
        except OSError as e:
            self.message.setText(f"cannot save the tour: {e}")
            return
        self._show_tours()
        self.tour_choice.setCurrentIndex(self.tour_choice.findText(name))
        self.message.setText(f"tour {name!r} saved")

    def toggle_tour(self) -> None:
        if self.tour is not None and self.tour.running:
            self.tour.stop("stopped by the operator")
            return
        dwell = self.dwell.value()
        steps = self.edited_steps()
        if steps:
            tour = Tour(self.tour_name.text().strip() or "tour", steps)
        elif self.presets:
            tour = Tour("presets", tuple(TourStep(p.token, dwell) for p in self.presets))
        else:
            return
        runner = TourRunner(self.controller, tour, self._clock)
        if self.session is not None:
            runner.stop_on_input_of(self.session)
        runner.stopped.connect(self.bridge.wrap(self._on_tour_stopped, owner=self))
        self.tour = runner
        runner.start()
        self.tour_button.setText("Stop tour")
        self.message.setText(f"tour {tour.name}: {len(tour.steps)} steps")
        self._tour_timer.start()

    def _tour_tick(self) -> None:
        if self.tour is not None:
            self.tour.tick()

    def _on_tour_stopped(self, reason: str) -> None:
        self._tour_timer.stop()
        self.tour_button.setText("Start tour")
        self.message.setText(f"tour stopped: {reason}")


def tours_file(tours_dir: Path, camera_id: str, optic: int = 0) -> Path:
    """Where the tours of one dome (or zoomable optic) are kept."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", camera_id).strip("._") or "camera"
    return tours_dir / f"tours-{slug}-{optic}.json"


def add_ptz_dock(
    window: QMainWindow,
    ptz: PtzWallAttachment,
    bridge: MainThreadBridge,
    supervisor: bool,
    tours_dir: Path | None = None,
) -> QDockWidget:
    """A dock with the presets and tours of the dome on the focused tile.

    It follows the wall: focusing another tile shows that dome's presets; a tile that
    cannot be steered shows a hint instead. Tours are saved under ``tours_dir``.
    """
    dock = QDockWidget("PTZ presets and tours", window)
    dock.setObjectName("ptz")
    hint = QLabel("Focus a PTZ dome (or a zoomable optic) to see its presets.")
    hint.setWordWrap(True)
    dock.setWidget(hint)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    current: list[PtzSession | None] = [None]

    def follow(_layout: object = None) -> None:
        ctl = ptz.focused_controller()
        session = ctl.session if ctl is not None else None
        if session is current[0]:
            return
        if session is None:
            current[0] = None
            dock.setWidget(QLabel(hint.text()))
            return
        camera = ctl.tile.camera if ctl is not None else None
        path = None
        if tours_dir is not None and camera is not None:
            path = tours_file(tours_dir, camera.id, ctl.tile.selected_optic or 0)
        # The previous dome's panel goes first: its buttons must never steer another dome.
        dock.setWidget(QLabel(hint.text()))
        current[0] = None
        panel = PtzPanel(
            session.controller, bridge, supervisor=supervisor, session=session, tours_path=path
        )
        current[0] = session
        dock.setWidget(panel)

    ptz.wall.model.changed.connect(follow)  # type: ignore[attr-defined]
    follow()
    return dock

"""PtzPanel offscreen against a demo dome: presets, supervisor edits, home, tour."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.demo.fleet import Fleet
from app.demo.model import Preset, PtzPosition
from app.ptz.factory import PtzRegistry
from app.ptz.model import PtzVector
from app.ptz.session import PtzSession
from app.ptz.tour import Tour, TourStep, load_tours
from tests.ptz.helpers import FakeClock, ptz_state
from widgets.bridge import MainThreadBridge
from widgets.ptz_panel import PtzPanel, tours_file


@pytest.fixture
def dome(fleet: Fleet, registry: PtzRegistry):
    state = ptz_state(fleet, "dome")
    state.presets["1"] = Preset("1", "Duomo", PtzPosition(0.2, 0.0, 0.0))
    state.presets["2"] = Preset("2", "Torrazzo", PtzPosition(-0.2, 0.1, 0.0))
    ctl = registry.controller(fleet.site_for_client().camera("dome"))
    ctl.capabilities().result(10)
    return ctl, state


def test_operator_goes_to_a_preset_and_home(qtbot, dome) -> None:
    ctl, state = dome
    panel = PtzPanel(ctl, MainThreadBridge())
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: panel.list.count() == 2, timeout=3000)
    assert not panel.save_button.isVisibleTo(panel)  # operators cannot edit presets
    panel.list.setCurrentRow(1)
    qtbot.mouseClick(panel.go_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state.position() == PtzPosition(-0.2, 0.1, 0.0), timeout=3000)
    qtbot.mouseClick(panel.home_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state.position() == PtzPosition(), timeout=3000)


def test_supervisor_saves_and_renames(qtbot, dome) -> None:
    ctl, state = dome
    panel = PtzPanel(ctl, MainThreadBridge(), supervisor=True)
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: panel.list.count() == 2, timeout=3000)
    panel.name.setText("Porta Po")
    qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.list.count() == 3, timeout=3000)
    assert [p.name for p in state.presets.values()][-1] == "Porta Po"
    panel.list.setCurrentRow(0)
    panel.name.setText("Duomo (nord)")
    qtbot.mouseClick(panel.rename_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.list.item(0).text() == "Duomo (nord)", timeout=3000)
    # A name already taken: the device's refusal is shown.
    panel.name.setText("Torrazzo")
    qtbot.mouseClick(panel.rename_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "exists" in panel.message.text(), timeout=3000)


def test_tour_runs_and_stops_on_manual_input(qtbot, dome) -> None:
    ctl, state = dome
    clock = FakeClock()
    session = PtzSession(ctl)
    panel = PtzPanel(ctl, MainThreadBridge(), session=session, clock=clock)
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: panel.list.count() == 2, timeout=3000)
    panel.dwell.setValue(5.0)
    qtbot.mouseClick(panel.tour_button, Qt.MouseButton.LeftButton)
    assert panel.tour is not None
    qtbot.waitUntil(lambda: state.position() == PtzPosition(0.2, 0.0, 0.0), timeout=3000)
    clock.advance(5.0)
    qtbot.waitUntil(lambda: state.position() == PtzPosition(-0.2, 0.1, 0.0), timeout=3000)
    assert panel.tour.index == 1
    session.request(PtzVector(pan=0.3))  # the operator takes over
    qtbot.waitUntil(lambda: "manual input" in panel.message.text(), timeout=2000)
    assert panel.tour_button.text() == "Start tour"
    session.release()
    clock.advance(10.0)
    qtbot.wait(250)
    assert panel.tour.index == 1


def test_tour_editor_saves_per_dome_and_runs_in_the_chosen_order(qtbot, dome, tmp_path) -> None:
    ctl, state = dome
    path = tours_file(tmp_path, "dome")
    panel = PtzPanel(ctl, MainThreadBridge(), tours_path=path)
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: panel.list.count() == 2, timeout=10000)
    # Duomo for 4 s, then Torrazzo for 7 s; then reorder: Torrazzo first.
    panel.list.setCurrentRow(0)
    panel.dwell.setValue(4.0)
    qtbot.mouseClick(panel.add_step_button, Qt.MouseButton.LeftButton)
    panel.list.setCurrentRow(1)
    panel.dwell.setValue(7.0)
    qtbot.mouseClick(panel.add_step_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.up_button, Qt.MouseButton.LeftButton)
    panel.tour_name.setText("Ronda")
    qtbot.mouseClick(panel.save_tour_button, Qt.MouseButton.LeftButton)
    ronda = Tour("Ronda", (TourStep("2", 7.0), TourStep("1", 4.0)))
    assert load_tours(path) == [ronda]
    assert load_tours(tours_file(tmp_path, "dome2")) == []  # per dome
    # A new panel (the dock rebuilt it) offers the saved tour; run it on a fake clock.
    clock = FakeClock()
    session = PtzSession(ctl)
    again = PtzPanel(ctl, MainThreadBridge(), session=session, clock=clock, tours_path=path)
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: again.list.count() == 2, timeout=10000)
    assert again.tour_choice.itemText(1) == "Ronda"
    again.tour_choice.setCurrentIndex(1)
    again.load_chosen_tour()
    assert again.edited_steps() == ronda.steps
    assert again.steps.item(0).text().startswith("Torrazzo")
    qtbot.mouseClick(again.tour_button, Qt.MouseButton.LeftButton)
    torrazzo, duomo = PtzPosition(-0.2, 0.1, 0.0), PtzPosition(0.2, 0.0, 0.0)
    qtbot.waitUntil(lambda: state.position() == torrazzo, timeout=10000)
    clock.advance(6.0)  # less than Torrazzo's 7 s: still there
    qtbot.wait(300)
    assert again.tour is not None
    assert again.tour.index == 0
    clock.advance(1.5)
    qtbot.waitUntil(lambda: state.position() == duomo, timeout=10000)
    clock.advance(4.5)  # Duomo's 4 s: back to the first step
    qtbot.waitUntil(lambda: state.position() == torrazzo, timeout=10000)
    assert again.tour.index == 0
    qtbot.mouseClick(again.home_button, Qt.MouseButton.LeftButton)  # manual: the tour ends
    assert not again.tour.running


def test_a_damaged_tours_file_is_kept_aside_and_the_panel_opens(tmp_path) -> None:
    from app.ptz.tour import load_tours, save_tours

    path = tmp_path / "tours" / "dome-0.json"
    ronda = Tour("Ronda", (TourStep("1", 5.0), TourStep("2", 5.0)))
    save_tours(path, [ronda])
    assert load_tours(path) == [ronda]
    path.write_text("")  # a power cut between write and rename, before fsync was used
    assert load_tours(path) == []
    aside = [p for p in path.parent.iterdir() if p.name.startswith("dome-0.json.unreadable-")]
    assert len(aside) == 1
    path.write_text('[{"name": "x"}]')  # a row without steps
    assert load_tours(path) == []
    kept = sorted(p.read_text() for p in path.parent.iterdir() if ".unreadable-" in p.name)
    assert kept == ["", '[{"name": "x"}]']  # the second one did not replace the first

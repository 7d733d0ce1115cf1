"""Walls as data: screens → layouts, placement and a screen being unplugged."""

from __future__ import annotations

from pathlib import Path

from app.sequences import LayoutCycle
from app.walls import Placement, Wall, WallScreen, default_wall, load_wall, moved, place, save_wall


def test_every_screen_home_then_one_unplugged_moves_to_the_least_loaded_screen() -> None:
    wall = default_wall(["DP-1", "DP-2", "DP-3"], ["2x2", "Piazza", "3x3"])
    assert [w.layout for w in wall.screens] == ["2x2", "Piazza", "3x3"]
    home = place(wall, ["HDMI-0", "DP-1", "DP-2", "DP-3"], avoid=["HDMI-0"])
    assert all(p.home for p in home)
    lost = place(wall, ["HDMI-0", "DP-1", "DP-3"], avoid=["HDMI-0"])
    assert lost[1] == Placement(1, "DP-1", False)  # not onto the operator's own screen
    assert moved(home, lost) == [1]
    two_lost = place(wall, ["HDMI-0", "DP-3"], avoid=["HDMI-0"])
    assert [p.screen for p in two_lost] == ["DP-3", "DP-3", "DP-3"]
    only_operator = place(wall, ["HDMI-0"], avoid=["HDMI-0"])
    assert [p.screen for p in only_operator] == ["HDMI-0"] * 3  # better there than nowhere
    assert place(wall, []) == ()
    back = place(wall, ["HDMI-0", "DP-1", "DP-2", "DP-3"], avoid=["HDMI-0"])
    assert back == home


def test_guests_spread_over_the_remaining_screens() -> None:
    wall = default_wall(["a", "b", "c", "d"])
    placed = place(wall, ["a", "x"])
    assert [(p.screen, p.home) for p in placed] == [
        ("a", True),
        ("x", False),
        ("a", False),
        ("x", False),
    ]


def test_wall_round_trip(tmp_path: Path) -> None:
    wall = (
        Wall("Sala operativa", (WallScreen("DP-1", "Piazza", title="Monitor 1"),))
        .add(WallScreen("DP-2"))
        .with_cycle(1, LayoutCycle(("2x2", "Piazza"), 15.0))
        .with_layout(0, "3x3")
    )
    path = tmp_path / "walls.json"
    save_wall(path, wall)
    assert load_wall(path) == wall
    assert wall.remove(0).screens[0].screen == "DP-2"
    assert load_wall(tmp_path / "none.json") is None
    path.write_text("[1, 2")
    assert load_wall(path) is None

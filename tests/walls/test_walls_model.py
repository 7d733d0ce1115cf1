"""Walls as data: screens → layouts, placement and a screen being unplugged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.sequences import LayoutCycle
from app.walls import (
    Placement,
    Wall,
    WallBook,
    WallScreen,
    WallsUnreadable,
    default_wall,
    load_wall,
    moved,
    place,
    save_wall,
)


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


def _book_with_two_walls(path: Path) -> None:
    book = WallBook.load(path)
    book.create("North", ["HDMI-1", "HDMI-2"])
    book.create("South", ["DP-1"], layout="3x3")


def test_a_wall_this_version_cannot_read_is_kept_when_another_is_saved(tmp_path: Path) -> None:
    path = tmp_path / "walls.json"
    _book_with_two_walls(path)
    data = json.loads(path.read_text())
    del data["walls"][1]["screens"][0]["screen"]  # South: damaged (or a newer version's)
    path.write_text(json.dumps(data))
    south = data["walls"][1]
    book = WallBook.load(path)
    assert book.names() == ["North"]
    book.put(book.get("North"))  # what every --wall start does with its running wall
    book.create("East", ["HDMI-3"])
    rows = json.loads(path.read_text())["walls"]
    assert south in rows
    assert {r["name"] for r in rows} == {"North", "South", "East"}


def test_a_damaged_walls_file_is_kept_aside_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "walls.json"
    _book_with_two_walls(path)
    good = path.read_text()
    path.write_text(good[: len(good) // 2])  # a crash mid-copy on the share
    half = path.read_text()
    book = WallBook.load(path)
    assert book.names() == []
    book.put(default_wall(["HDMI-1"]))
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("walls.json.unreadable-")]
    assert len(aside) == 1
    assert aside[0].read_text() == half


def test_a_walls_file_that_cannot_be_read_is_never_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "walls.json"
    _book_with_two_walls(path)
    good = path.read_text()
    real_read = Path.read_text

    def read_text(self: Path, *args: object, **kwargs: object) -> str:
        if self == path:
            raise OSError(5, "Input/output error")
        return real_read(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", read_text)
    book = WallBook.load(path)
    monkeypatch.undo()
    assert book.unreadable is not None
    with pytest.raises(WallsUnreadable, match="not overwritten"):
        book.put(default_wall(["HDMI-1"]))
    with pytest.raises(OSError):
        book.create("East", ["HDMI-3"])
    assert path.read_text() == good

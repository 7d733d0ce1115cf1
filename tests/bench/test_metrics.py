"""The wall benchmark's arithmetic (bench/metrics.py) on hand-made samples."""

from __future__ import annotations

import pytest

from bench import metrics
from bench.metrics import Check


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert metrics.percentile(values, 50) == 50.0
    assert metrics.percentile(values, 95) == 95.0
    assert metrics.percentile(values, 99) == 99.0
    assert metrics.percentile(values, 100) == 100.0
    assert metrics.percentile([7.0], 99) == 7.0
    assert metrics.percentile([], 50) is None


def test_cpu_percent_of_one_core() -> None:
    # 3 s of user and 1 s of system time over 10 s: 40 % of one core.
    assert metrics.cpu_percent((10.0, 5.0), (13.0, 6.0), 10.0) == pytest.approx(40.0)
    assert metrics.cpu_percent((0.0, 0.0), (1.0, 0.0), 0.0) == 0.0


def test_frames_sent_between_counts_inclusive_range() -> None:
    stamps = [100, 140, 180, 220, 260]
    assert metrics.frames_sent_between(stamps, 140, 220) == 3
    assert metrics.frames_sent_between(stamps, 141, 219) == 1
    assert metrics.frames_sent_between(stamps, 0, 1000) == 5
    assert metrics.frames_sent_between(stamps, 300, 400) == 0


def test_lateness_after_skips_by_elapsed_time() -> None:
    # 100 ticks on time (1 s), then one 500 ms late, then 10 on time.
    lateness = [0.0] * 100 + [500.0] + [0.0] * 10
    after = metrics.lateness_after(lateness, 10.0, 1.2)
    assert after[0] == 500.0
    assert len(after) == 11
    assert metrics.lateness_after(lateness, 10.0, 60.0) == []


def test_rss_slope_in_mb_per_minute() -> None:
    flat = [(float(t), 200.0) for t in range(30)]
    assert metrics.rss_slope_mb_per_min(flat) == pytest.approx(0.0)
    growing = [(float(t), 200.0 + t / 60) for t in range(120)]  # 1 MB a minute
    assert metrics.rss_slope_mb_per_min(growing) == pytest.approx(1.0)
    assert metrics.rss_slope_mb_per_min([(0.0, 1.0)]) is None


def _tile(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "tile": 0,
        "camera": "c00",
        "url": "rtsp://127.0.0.1:5554/c00/sub",
        "status": "live",
        "pane_presented": 0,
        "first_stamp_ns": None,
        "last_stamp_ns": None,
        "opened_at_ns": None,
        "first_presented_ns": None,
        "keyframes_only": False,
        "latency_samples": [],
        "surface_size": [400, 225],
    }
    base.update(fields)
    return base


def test_tile_results_count_frames_and_time_to_first_frame() -> None:
    ms = 1_000_000
    stamps = [i * 40 * ms for i in range(1, 101)]  # 100 frames at 25 fps, from 40 ms
    log = {"sub0": {"stamps_ns": stamps}}
    stats = {
        "tiles": [
            _tile(
                pane_presented=49,
                first_stamp_ns=stamps[10],
                last_stamp_ns=stamps[59],  # 50 frames sent in that range
                opened_at_ns=300 * ms,  # opened at 300 ms; key frame captured at 440 ms
                first_presented_ns=500 * ms,
                latency_samples=[50.0, 60.0],
            ),
            _tile(tile=1, camera=None),  # an empty tile is not counted
            _tile(tile=2, camera="c01", url="rtsp://127.0.0.1:5554/c01/sub", status="offline"),
        ]
    }
    end = stamps[60]
    tiles = metrics.tile_results(stats, {"/c00/sub": "sub0"}, log, end)
    assert [t.tile for t in tiles] == [0, 2]
    t = tiles[0]
    assert t.source == "sub0"
    assert t.sent == 50
    assert t.presented_ratio == pytest.approx(0.98)
    assert t.ttff_ms == pytest.approx(200.0)
    assert t.ttff_excl_key_ms == pytest.approx(60.0)  # from the key frame's capture
    assert t.live
    assert t.latency_ms == [50.0, 60.0]
    assert not tiles[1].live
    assert tiles[1].presented_ratio is None
    # A tile whose newest picture is older than the freshness limit is not live.
    stale = metrics.tile_results(stats, {"/c00/sub": "sub0"}, log, end + 5_000 * ms)
    assert not stale[0].live


def test_switch_results_allow_one_second_beyond_each_tiles_key_frame_wait() -> None:
    ms = 1_000_000
    stats = {
        "switches": [
            # Tile A: key frame captured 700 ms after the switch, shown at 780 ms (80 over).
            # Tile B: key frame at once, shown at 1300 ms (1300 over: too slow).
            {
                "layout": "b",
                "at_ns": 0,
                "live_ns": 1300 * ms,
                "tiles": [[780 * ms, 700 * ms], [1300 * ms, -5 * ms]],
            },
            {"layout": "4x4", "at_ns": 0, "live_ns": None, "tiles": []},
        ]
    }
    done, never = metrics.switch_results(stats)
    assert done["live_ms"] == pytest.approx(1300.0)
    assert done["key_wait_max_ms"] == pytest.approx(700.0)
    assert done["excess_ms"] == pytest.approx(1300.0)
    assert never["excess_ms"] is None


def test_markdown_table_and_verdicts() -> None:
    checks = [
        Check("4x4", "latency p95", "60 ms", "≤ 100 ms", True),
        Check("4x4", "CPU", "1.4x", "≤ 1.3x", False),
        Check("4x4", "growth", "0.1", "10 min", None),
    ]
    table = metrics.markdown_table(checks).splitlines()
    assert table[0].startswith("| scenario |")
    assert table[2].endswith("| PASS |")
    assert table[3].endswith("| FAIL |")
    assert table[4].endswith("| — |")


def test_cpu_verdict_uses_the_unrounded_ratio() -> None:
    """15.9 % against 12.2 % is 1.303: shown rounded, judged exactly (over 1.3 fails)."""
    from bench.run import SCENARIOS, RunResult, checks

    def result(app: float, floor: float) -> RunResult:
        return RunResult(
            scenario=SCENARIOS["main"],
            seconds=20.0,
            app_cpu=app,
            floor_cpu=floor,
            server_cpu=30.0,
            machine_busy_cores=0.6,
            load_avg=(1.0, 1.0),
            rss_mb=[],
            tiles=[],
            switches=[],
            timer_lateness_ms=[],
            floor_frames=None,
            app_exit=0,
        )

    over = [c for c in checks({"main": result(15.9, 12.2)}, False) if c.what == "CPU ÷ floor"]
    under = [c for c in checks({"main": result(15.8, 12.2)}, False) if c.what == "CPU ÷ floor"]
    assert over[0].passed is False
    assert over[0].measured.startswith("1.303x")
    assert under[0].passed is True

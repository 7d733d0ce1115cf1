"""Audit log: an entry per audited action, append-only JSON lines, nothing lost to SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from app import audit
from app.layouts import ops
from app.layouts.model import WallState
from app.layouts.store import WallModel


def test_entries_have_time_user_workstation_action_details(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with audit.AuditLog(path, "rossi", "sala-1", clock=lambda: 1_790_000_000.25) as log:
        log.append(audit.WALL_PUSH, screen="DP-2", camera="cam07")
        log.append(audit.EXPORT, camera="cam03", file="/x/clip.mp4")
    with audit.AuditLog(path, "bianchi", "sala-2") as log:  # a second session appends
        log.append(audit.PTZ_TAKEOVER, camera="cam01", previous="rossi")
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    assert first["user"] == "rossi"
    assert first["workstation"] == "sala-1"
    assert first["action"] == "wall.push"
    assert first["details"] == {"screen": "DP-2", "camera": "cam07"}
    assert first["time"].startswith("2026-")
    assert ".250" in first["time"]
    read = audit.read_audit(path)
    assert audit.actions(read.entries) == ["wall.push", "export", "ptz.takeover"]
    assert read.bad_lines == []
    assert not read.torn_tail


def test_every_layout_change_is_audited_but_not_focus_moves(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = audit.AuditLog(path, "bianchi", "sala-1", sync=False)
    model = WallModel(WallState(), ["c1", "c2", "c3", "c4", "c5"])
    audit.LayoutAuditor(log, model, where="main")
    model.apply(lambda lay: ops.assign(lay, 2, "c5"))
    model.apply(lambda lay: ops.focus(lay, 0))  # viewing, not a change
    model.apply(lambda lay: ops.toggle_maximize(lay, 0))
    model.set_layout("3x3")
    model.apply(lambda lay: ops.swap(lay, 0, 1))
    log.close()
    entries = audit.read_audit(path).entries
    assert audit.actions(entries) == ["layout.change", "layout.switch", "layout.change"]
    assert entries[0]["details"] == {
        "screen": "main",
        "layout": "2x2",
        "tiles": [{"tile": 2, "from": "c3", "to": "c5"}],
    }
    assert entries[1]["details"]["to"] == "3x3"
    assert [t["tile"] for t in entries[2]["details"]["tiles"]] == [0, 1]


def test_a_torn_line_is_reported_and_sealed_before_the_next_entry(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"action": "layout.change", "user": "a"}\n{"action": "wall.pu')
    read = audit.read_audit(path)
    assert len(read.entries) == 1
    assert read.bad_lines == [2]
    assert read.torn_tail
    with audit.AuditLog(path, "a", "w") as log:
        log.append(audit.EXPORT)
    read = audit.read_audit(path)
    assert audit.actions(read.entries) == ["layout.change", "export"]
    assert read.bad_lines == [2]  # the fragment stays (append-only) and is reported
    assert not read.torn_tail


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from app.audit import AuditLog
    log = AuditLog(Path(sys.argv[1]), "stress", "ws")
    i = 0
    while True:
        log.append("layout.change", seq=i, pad="x" * (i % 700))
        sys.stdout.write(f"{i}\\n")  # after fsync: this entry must survive
        sys.stdout.flush()
        i += 1
    """
)


def test_no_acknowledged_entry_is_lost_when_killed_mid_write(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    root = Path(__file__).resolve().parents[2]
    for round_ in range(3):  # three kills, each appending to what the last one left
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path)],
            stdout=subprocess.PIPE,
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root)},
        )
        assert proc.stdout is not None
        acked = -1
        deadline = time.monotonic() + 20
        target = 150 + 37 * round_  # kill at a different point each time
        while acked < target and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            acked = int(line)
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read().split()
        proc.wait(timeout=10)
        if rest:
            acked = int(rest[-1])
        assert acked >= target, "the writer did not get going"
        lines = path.read_bytes().split(b"\n")
        assert lines[-1] == b""  # the file ends on a complete line
        entries = [json.loads(line) for line in lines[:-1]]  # every line is complete JSON
        mine = [e["details"]["seq"] for e in entries if e["details"]["seq"] <= acked]
        # This round's entries 0..acked are all there, in order (earlier rounds precede them).
        assert mine[-(acked + 1) :] == list(range(acked + 1))
    assert audit.read_audit(path).bad_lines == []


def test_a_ptz_takeover_is_the_first_input_after_idle() -> None:
    t = [0.0]
    tracker = audit.TakeoverTracker(idle_s=5.0, clock=lambda: t[0])
    assert tracker.input("cam01")
    t[0] = 3.0
    assert not tracker.input("cam01")  # the same steering going on
    assert tracker.input("cam02")
    t[0] = 8.5
    assert tracker.input("cam01")  # 5.5 s without input: a new take-over

"""The real application with wall windows, a user from the list and the audit log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from app.audit import read_audit
from tests.sites import write_rtsp_site

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    site = write_rtsp_site(tmp_path / "site.yaml", "rtsp://127.0.0.1:9")
    users = tmp_path / "users.json"
    users.write_text(
        json.dumps({"users": [{"name": "rossi", "role": "supervisor"}, {"name": "bianchi"}]})
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "TORRAZZO_JOYSTICK": "0"}
    return subprocess.run(
        [sys.executable, "-m", "widgets.main", "--site", str(site), "--users", str(users),
         "--state-dir", str(tmp_path / "state"), *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_wall_windows_open_and_the_session_is_audited(tmp_path: Path) -> None:
    done = _run(tmp_path, "--user", "bianchi", "--wall", "windows:2", "--run-seconds", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    audit = read_audit(tmp_path / "state" / "audit.jsonl")
    assert [e["action"] for e in audit.entries] == ["session.start", "session.end"]
    assert audit.entries[0]["user"] == "bianchi"
    assert audit.entries[0]["details"] == {"role": "operator"}
    walls = json.loads((tmp_path / "state" / "walls-rtsp-test-site.json").read_text())
    assert [w["name"] for w in walls["walls"]] == ["wall"]
    assert [s["screen"] for s in walls["walls"][0]["screens"]] == ["wall-1", "wall-2"]


def test_an_unknown_user_does_not_start(tmp_path: Path) -> None:
    done = _run(tmp_path, "--user", "verdi", "--run-seconds", "1")
    assert done.returncode == 2
    assert "unknown user 'verdi'" in done.stderr
    assert not (tmp_path / "state" / "audit.jsonl").exists()

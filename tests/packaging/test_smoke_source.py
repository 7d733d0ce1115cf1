"""`torrazzo --smoke-test` from the source tree: passes, and names the step that fails."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from widgets import smoke

ROOT = Path(__file__).resolve().parents[2]


def test_smoke_test_passes_from_source(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from widgets.main import main; raise SystemExit(main())",
            "--smoke-test",
        ],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
        env={**os.environ, "TORRAZZO_STATE_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for step, _ in smoke.STEPS:
        assert f"smoke: ok {step}" in result.stdout
    assert "(source)" in result.stdout


def test_a_failing_step_is_named_and_exits_non_zero(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import widgets.main

    # An installation without its resources: the resources step must say what is missing.
    monkeypatch.setattr(widgets.main, "RESOURCES", tmp_path)
    ran: list[str] = []

    def never(_ctx: smoke.SmokeContext) -> str:
        ran.append("later")
        return ""

    monkeypatch.setattr(
        smoke,
        "STEPS",
        (("platform", smoke.step_platform), ("resources", smoke.step_resources), ("qt", never)),
    )
    out = io.StringIO()
    assert smoke.run_smoke_test(out) == 1
    err = capsys.readouterr().err
    assert "FAILED at step 'resources'" in err
    assert "clip.mp4" in err
    assert "smoke: ok platform" in out.getvalue()
    assert ran == []  # no step runs after a failure

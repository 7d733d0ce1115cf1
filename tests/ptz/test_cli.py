"""`torrazzo ptz` against the demo fleet: as a subprocess, and in-process for the details."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.demo.fleet import Fleet
from app.demo.model import Fault, Preset, PtzPosition
from app.ptz import cli
from tests.helpers import wait_for
from tests.ptz.helpers import ptz_state, write_site

ENV = {**os.environ, "TORRAZZO_DEMO_USER": "operator", "TORRAZZO_DEMO_PASSWORD": "demo-cremona"}


def torrazzo(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from widgets.main import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, "ptz", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
    )


@pytest.fixture
def site(fleet: Fleet, tmp_path: Path) -> Path:
    return write_site(tmp_path / "site.yaml", fleet)


def test_move_for_seconds_then_stop(fleet: Fleet, site: Path) -> None:
    state = ptz_state(fleet, "dome")
    run = torrazzo("--site", str(site), "dome", "--move", "0.5,-0.5,0", "--for", "0.6")
    assert run.returncode == 0, run.stderr
    assert "stopped" in run.stdout
    assert state.moving() == (False, False)
    pos = state.position()
    # 0.6 s at half speed: pan 0.2 (2/3 per s), tilt -0.4 (4/3 per s); start-up slack allowed.
    assert 0.12 < pos.pan < 0.26
    assert -0.5 < pos.tilt < -0.25
    assert run.stderr == ""
    assert "PySide6" not in run.stdout


def ptz_main(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The same entry point in this process: cheaper than a subprocess per case."""
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_status_preset_and_home(
    fleet: Fleet, site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = ptz_state(fleet, "dome")
    state.presets["7"] = Preset("7", "Porta Venezia", PtzPosition(-0.4, 0.1, 0.3))
    code, out, err = ptz_main(
        "--site", str(site), "dome", "--preset", "Porta Venezia", capsys=capsys
    )
    assert code == 0, err
    assert "going to preset Porta Venezia" in out
    wait_for(lambda: state.position() == PtzPosition(-0.4, 0.1, 0.3), 10, "the preset")
    run = torrazzo("--site", str(site), "dome", "--status", "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["presets"] == [{"token": "7", "name": "Porta Venezia"}]
    assert data["pan"] == pytest.approx(-0.4, abs=1e-3)
    assert data["moving"] is False
    code, out, err = ptz_main("--site", str(site), "dome", "--home", capsys=capsys)
    assert code == 0, err
    wait_for(lambda: state.position() == PtzPosition(), 10, "home")
    code, out, err = ptz_main("--site", str(site), "dome", "--preset", "Nowhere", capsys=capsys)
    assert code == 1
    assert "no preset 'Nowhere'" in err
    assert "Porta Venezia" in err


def test_errors_are_messages_and_exit_codes(
    fleet: Fleet, site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = ptz_main("--site", str(site), "fixed", "--status", capsys=capsys)
    assert code == 1
    assert "no PTZ" in err
    fleet.set_fault("dome2", Fault.OFFLINE)
    code, _, err = ptz_main("--site", str(site), "dome2", "--home", capsys=capsys)
    assert code == 1
    assert "connection refused" in err
    fleet.set_fault("dome2", Fault.WRONG_PASSWORD)
    code, _, err = ptz_main("--site", str(site), "dome2", "--status", capsys=capsys)
    assert code == 1
    assert "not authorized" in err
    code, _, err = ptz_main("--site", str(site), "nope", "--status", capsys=capsys)
    assert code == 2
    with pytest.raises(SystemExit) as e:
        cli.main(["--site", str(site), "dome", "--move", "2,0,0"])
    assert e.value.code == 2
    assert "[-1, 1]" in capsys.readouterr().err

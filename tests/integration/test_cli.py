"""`torrazzo probe` and the `--run-seconds` run, as subprocesses against the real RTSP server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from app.demo.model import VirtualCamera, VirtualOptic
from tests.demo.onvif_testserver import OnvifTestServer
from tests.sites import write_rtsp_site

ENV = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}


def _torrazzo(
    *args: str, timeout: float = 90, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    code = "import sys; from widgets.main import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**ENV, **(env or {})},
    )


def test_probe_reports_every_camera_and_fails_for_a_dead_one(rtsp_server, tmp_path: Path) -> None:
    site = write_rtsp_site(tmp_path / "site.yaml", f"rtsp://127.0.0.1:{rtsp_server.port}")
    run = _torrazzo("probe", "--site", str(site), "--json", "--timeout", "2")
    assert run.returncode == 1, run.stderr
    results = {r["camera"]: r for r in json.loads(run.stdout)}
    assert set(results) == {"cam1", "cam2", "cam3", "dead"}
    assert results["cam1"]["status"] == "live"
    assert (results["cam1"]["width"], results["cam1"]["height"]) == (1280, 720)
    assert results["cam1"]["codec"] == "h264"
    assert 15 <= results["cam1"]["fps"] <= 35
    assert results["cam1"]["time_to_first_frame_ms"] > 0
    assert results["cam3"]["codec"] == "hevc"
    assert results["dead"]["status"] == "offline"
    assert results["dead"]["reason"] == "connection refused"
    # Human-readable output, sub streams, all live → exit 0.
    ok_site = write_rtsp_site(
        tmp_path / "ok.yaml", f"rtsp://127.0.0.1:{rtsp_server.port}", extra_dead=False
    )
    run = _torrazzo("probe", "--site", str(ok_site), "--stream", "sub")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 of 3 streams live" in run.stdout
    assert "640x360" in run.stdout


def test_probe_resolves_onvif_only_cameras_and_reports_unreachable_ones(
    rtsp_server, tmp_path: Path
) -> None:
    """A camera given only by its ONVIF address is probed through the streams its device
    reports; one whose ONVIF endpoint does not answer is reported with the reason, exit 1."""
    camera = VirtualCamera("onv", "ONVIF only", "Centro", "fixed-dome", [VirtualOptic(0, "F", 0.0)])
    base = f"rtsp://127.0.0.1:{rtsp_server.port}"
    with OnvifTestServer(
        camera, username="op", password="pw", stream_uri=lambda i, role: f"{base}/cam1/{role}"
    ) as onvif:
        site = tmp_path / "onvif.yaml"
        site.write_text(
            f"""schema_version: 1
name: ONVIF site
credentials:
  cam:
    username: env:TORRAZZO_PROBE_USER
    password: env:TORRAZZO_PROBE_PASSWORD
neighbourhoods:
  - id: centro
    name: Centro
cameras:
  - id: onv
    name: ONVIF only
    neighbourhood: centro
    kind: fixed-dome
    onvif: {{host: 127.0.0.1, port: {onvif.port}, credential: cam}}
"""
        )
        env = {"TORRAZZO_PROBE_USER": "op", "TORRAZZO_PROBE_PASSWORD": "pw"}
        run = _torrazzo("probe", "--site", str(site), "--json", "--timeout", "2", env=env)
        assert run.returncode == 0, run.stdout + run.stderr
        [result] = json.loads(run.stdout)
        assert result["camera"] == "onv"
        assert result["status"] == "live"
        assert result["url"].endswith("/cam1/main")
        assert (result["width"], result["height"]) == (1280, 720)
        # The same camera with a dead ONVIF endpoint: reported, not skipped, and exit 1.
        site.write_text(site.read_text().replace(f"port: {onvif.port}", "port: 9"))
        run = _torrazzo("probe", "--site", str(site), "--timeout", "2", env=env)
        assert run.returncode == 1, run.stdout + run.stderr
        assert "onv" in run.stdout
        assert "ONVIF stream discovery failed: " in run.stdout
        assert "0 of 1 streams live, 1 failed" in run.stdout
        assert onvif.invalid == []


def test_bad_site_file_names_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 1\nname: x\ncameras:\n  - id: a\n    nmae: typo\n")
    run = _torrazzo("probe", "--site", str(bad))
    assert run.returncode == 2
    assert "bad.yaml:5" in run.stderr
    assert "nmae" in run.stderr


def test_run_seconds_writes_stats_and_restores_the_layout(rtsp_server, tmp_path: Path) -> None:
    site = write_rtsp_site(tmp_path / "site.yaml", f"rtsp://127.0.0.1:{rtsp_server.port}")
    out = tmp_path / "stats.json"
    state = tmp_path / "state"
    run = _torrazzo(
        "--site",
        str(site),
        "--layout",
        "3x3",
        "--run-seconds",
        "5",
        "--stats-json",
        str(out),
        "--state-dir",
        str(state),
    )
    assert run.returncode == 0, run.stderr
    data = json.loads(out.read_text())
    assert data["layout"] == "3x3"
    tiles = {t["camera"]: t for t in data["tiles"] if t["camera"]}
    assert set(tiles) == {"cam1", "cam2", "cam3", "dead"}
    cam1 = tiles["cam1"]
    assert cam1["status"] == "live"
    assert cam1["stream"] == "sub"  # a 3x3 tile is small: the sub stream
    assert cam1["frames_presented"] > 25
    assert cam1["latency_ms_median"] is not None
    # Rates and drops: the test server sends 25 fps; 5 s gives at least a few seconds of it.
    assert 10 <= cam1["fps_decoded"] <= 35
    assert 0 < cam1["fps_presented"] <= 35
    assert cam1["frames_decoded"] >= cam1["frames_presented"] - 1
    assert 0 <= cam1["dropped_replaced"] <= cam1["frames_decoded"]
    assert cam1["lost_network"] >= 0
    dead = tiles["dead"]
    assert (dead["fps_decoded"], dead["fps_presented"], dead["dropped_replaced"]) == (0.0, 0.0, 0)
    assert tiles["dead"]["status"] == "offline"
    assert tiles["dead"]["frames_presented"] == 0
    # Next start without --layout: the 3x3 layout and its cameras come back.
    run = _torrazzo(
        "--site",
        str(site),
        "--run-seconds",
        "1",
        "--stats-json",
        str(out),
        "--state-dir",
        str(state),
    )
    assert run.returncode == 0, run.stderr
    again = json.loads(out.read_text())
    assert again["layout"] == "3x3"
    assert [t["camera"] for t in again["tiles"]][:4] == ["cam1", "cam2", "cam3", "dead"]

"""Composition root: command line, site or demo, core objects, the main window, clean exit."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

from app import __version__

logger = logging.getLogger("torrazzo")
RESOURCES = Path(__file__).resolve().parent.parent / "resources"
GIL_SWITCH_INTERVAL_S = 0.001  # see run_gui


def resources_dir() -> Path:
    """resources/ from the source tree, or from the PyInstaller bundle when frozen."""
    frozen = getattr(sys, "_MEIPASS", None)
    return Path(frozen) / "resources" if frozen else RESOURCES


def default_state_dir() -> Path:
    env = os.environ.get("TORRAZZO_STATE_DIR")
    if env:
        return Path(env)
    from platformdirs import user_state_dir

    return Path(user_state_dir("torrazzo", appauthor=False))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="torrazzo",
        description="Torrazzo control-room client; without --site it opens the Cremona demo.",
        epilog="Subcommands: 'torrazzo probe --site FILE [--json]' checks every camera of a site.",
    )
    p.add_argument("--site", type=Path, help="site file (YAML); default: the built-in demo")
    p.add_argument(
        "--demo", action="store_true", help="run the built-in Cremona demo (virtual cameras)"
    )
    p.add_argument(
        "--layout", help="open this layout, filled with the site's cameras in file order"
    )
    p.add_argument(
        "--run-seconds",
        type=float,
        help="quit after N seconds (with --stats-json: write statistics)",
    )
    p.add_argument("--stats-json", type=Path, help="write per-tile statistics here on exit")
    p.add_argument(
        "--switch-layout-after",
        nargs=2,
        action="append",
        default=[],
        metavar=("SECONDS", "NAME"),
        help="benchmarks: switch to layout NAME after SECONDS (repeatable; timed in --stats-json)",
    )
    p.add_argument(
        "--state-dir", type=Path, help="where the wall state is kept (default: per user)"
    )
    p.add_argument("--fullscreen", action="store_true")
    p.add_argument("--timeout", type=float, default=5.0, help="stream socket timeout in seconds")
    p.add_argument("--log-level", default=os.environ.get("TORRAZZO_LOG", "WARNING"))
    p.add_argument("--version", action="version", version=f"torrazzo {__version__}")
    # Walls, saved layouts, roles and audit (widgets.walls, widgets.login).
    p.add_argument(
        "--demo-fault",
        action="append",
        default=None,
        metavar="CAM=KIND",
        help="demo only: replace the default faults (offline, flapping, wrong-password, frozen)",
    )
    p.add_argument(
        "--demo-transport",
        choices=["auto", "rtsp", "http"],
        default="auto",
        help="demo only: video over RTSP (gst-rtsp-server under the system python), HTTP "
        "(MPEG-TS) or auto: RTSP when available (default: %(default)s)",
    )
    p.add_argument("--user", help="log in as this user of the user list (no login dialog)")
    p.add_argument("--users", type=Path, help="user list (JSON); default: users.json")
    p.add_argument("--layouts", type=Path, help="saved layouts file shared by the room")
    p.add_argument("--audit-log", type=Path, help="audit log (JSON lines); default: state dir")
    p.add_argument(
        "--export-dir", type=Path, help="where snapshots are exported; default: state dir/exports"
    )
    p.add_argument(
        "--wall",
        help="open wall screens: 'auto' (every screen but the primary), screen names "
        "separated by commas, or 'windows:N' (N plain windows)",
    )
    p.add_argument(
        "--smoke-test",
        action="store_true",
        help="check this installation (resources, FFmpeg, Qt, video, ONVIF) and exit",
    )
    return p


def probe_main(argv: list[str]) -> int:
    """`torrazzo probe`: no Qt is imported on this path."""
    from app.probe import print_results, probe_site
    from app.site.loader import SiteError, load_site
    from app.site.model import StreamRole
    from app.streams.worker import StreamOptions

    p = argparse.ArgumentParser(
        prog="torrazzo probe", description="Connect to every camera of a site and report."
    )
    p.add_argument("--site", type=Path, required=True)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--stream", choices=["main", "sub"], default="main")
    p.add_argument("--timeout", type=float, default=5.0)
    args = p.parse_args(argv)
    try:
        site = load_site(args.site)
    except SiteError as e:
        sys.stderr.write(f"{e}\n")
        return 2
    results = probe_site(site, StreamRole(args.stream), StreamOptions(timeout=args.timeout))
    print_results(results, sys.stdout, args.json)
    return 0 if results and all(r.ok for r in results) else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "ptz":
        from app.ptz.cli import main as ptz_main

        return ptz_main(argv[1:])
    if argv and argv[0] == "probe":
        return probe_main(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.smoke_test:
        from widgets.smoke import run_smoke_test

        return run_smoke_test()
    return run_gui(args)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "site"


def load_site_or_demo(args: argparse.Namespace) -> tuple[Any, Any]:
    """(Site, running demo Fleet or None). Raises SiteError for a bad site file."""
    from app.site.loader import load_site

    if args.site and not args.demo:
        return load_site(args.site), None
    from app.demo.fleet import Fleet, ensure_demo_env, parse_fault

    ensure_demo_env()
    site = load_site(resources_dir() / "sites" / "cremona.yaml")
    faults = None
    if args.demo_fault is not None:
        faults = dict(parse_fault(spec) for spec in args.demo_fault)
    last: OSError | None = None
    for base in (18100, 28100, 38100, 48100):
        fleet = Fleet(site, base_port=base, faults=faults, transport=args.demo_transport)
        try:
            fleet.start()  # auto: the RTSP check runs while the ports are bound (~0.1 s)
        except OSError as e:  # ports taken, e.g. another demo is running
            last = e
            continue
        # The demo's site is built in, not a file of the user's: nothing to save map edits to.
        return dataclasses.replace(fleet.site_for_client(), path=None), fleet
    raise RuntimeError(f"cannot start the demo cameras: {last}")


def map_cone_follower(map_model: Any) -> Any:
    """A PTZ pose listener that turns a dome's reported pan and zoom into its map cone."""

    def follow(camera: Any, status: Any, fov: Any) -> None:
        bearing = (camera.heading or 0.0) + status.pan * fov.pan_deg_per_unit
        map_model.set_ptz_pose(camera.id, bearing, fov.hfov(status.zoom))

    return follow


def start_stream_discovery(site: Any, window: Any, bridge: Any) -> Any:
    """Cameras known only by their ONVIF address get their streams and optics in the background."""
    from app.onvif.client import discover_streams
    from app.site.discovery import StreamDiscovery

    def discover(camera: Any) -> Any:
        return discover_streams(camera.onvif, camera.onvif.credential)

    discovery = StreamDiscovery(discover)
    discovery.camera_discovered.connect(bridge.wrap(window.wall.update_camera, owner=window.wall))
    discovery.start(site.cameras)
    return discovery


def run_gui(args: argparse.Namespace) -> int:
    # The GUI thread gives up the GIL in most PySide calls and must win it back from up to 64
    # decode threads; CPython makes a waiting thread wait a whole switch interval (5 ms by
    # default) before it forces the holder to let go. At an 8x8 start that turned the camera
    # tree's status updates into a ~0.5 s stall (py-spy). With 1 ms: 8x8 first frame worst
    # 231-249 ms instead of 396-734, display p99 22-39 ms; the 4x4 wall's CPU is unchanged
    # (BENCHMARKS.md).
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.health import StatusBoard
    from app.layouts.store import WallModel, load_wall_state, save_wall_state
    from app.site.loader import SiteError
    from app.streams.engine import StreamEngine
    from app.streams.urls import open_url
    from app.streams.worker import StreamOptions
    from widgets.bridge import MainThreadBridge
    from widgets.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Torrazzo")
    app.setApplicationVersion(__version__)
    from widgets.login import start_session  # --user NAME, else the login dialog

    session = start_session(args, args.state_dir or default_state_dir())
    if session is None:
        return 2
    try:
        site, fleet = load_site_or_demo(args)
    except SiteError as e:
        sys.stderr.write(f"torrazzo: {e}\n")
        return 2
    engine = StreamEngine(StreamOptions(timeout=args.timeout), url_resolver=open_url)
    board = StatusBoard(engine)
    bridge = MainThreadBridge()
    state_dir = args.state_dir or default_state_dir()
    state_file = state_dir / f"wall-{_slug(site.name)}.json"
    model = WallModel(load_wall_state(state_file), [c.id for c in site.cameras])
    if args.layout:
        try:
            model.set_layout(args.layout)
        except KeyError as e:
            sys.stderr.write(f"torrazzo: {e.args[0]}\n")
            return 2
        model.fill([c.id for c in site.cameras])

    def save(_layout: object = None) -> None:
        try:
            save_wall_state(state_file, model.state())
        except OSError as e:  # a full disk must not take the wall down
            logger.error("cannot save the wall state to %s: %s", state_file, e)

    model.changed.connect(save)
    save()
    window = MainWindow(site, model, engine, board, bridge, " (demo)" if fleet else "")
    from widgets.ptz_control import attach_ptz  # PTZ on dome tiles, digital zoom on others

    ptz = attach_ptz(
        window.wall, bridge, camera_ids=[c.id for c in site.cameras], user=session.user.name
    )
    from app.users import Role
    from widgets.ptz_panel import add_ptz_dock

    add_ptz_dock(
        window, ptz, bridge, supervisor=session.user.role == Role.SUPERVISOR, tours_dir=state_dir
    )
    from app.users import EDIT_MAP, can

    window.map.view.set_may_edit(can(session.user, EDIT_MAP))  # operators use the map only
    ptz.pose_listeners.append(map_cone_follower(window.map.model))
    discovery = start_stream_discovery(site, window, bridge)
    from widgets.walls import attach_supervision  # saved layouts, walls, sequences, audit

    # Audits every change of `model` (and of the wall screens) through WallModel.changed.
    supervision = attach_supervision(
        args, session, window, model, site, engine, board, bridge, state_dir,
        _slug(site.name), ptz,
    )  # fmt: skip
    started = time.monotonic()
    # Benchmark instrumentation (python -m bench): timer lateness and layout switch timing.
    probe = None
    if args.stats_json or args.switch_layout_after:
        from widgets.wall import BenchProbe

        probe = BenchProbe(window.wall)
        for seconds, name in args.switch_layout_after:
            QTimer.singleShot(round(float(seconds) * 1000), lambda n=name: probe.switch(n))

    def finish() -> None:
        elapsed = time.monotonic() - started
        if args.stats_json:
            data = {
                "version": __version__,
                "site": site.name,
                "layout": model.current,
                "seconds": round(elapsed, 3),
                "display_ticks": window.wall.ticks,
                "tiles": window.wall.tile_stats(elapsed),
                **(probe.stats() if probe is not None else {}),
            }
            args.stats_json.parent.mkdir(parents=True, exist_ok=True)
            args.stats_json.write_text(json.dumps(data, indent=1))
        window.close()

    if args.run_seconds:
        QTimer.singleShot(int(args.run_seconds * 1000), finish)
    # Ctrl-C in the terminal closes the window cleanly (Qt's loop would otherwise swallow it).
    signal.signal(signal.SIGINT, lambda *_: bridge.post(window.close))
    signal.signal(signal.SIGTERM, lambda *_: bridge.post(window.close))
    wakeup = QTimer()
    wakeup.timeout.connect(lambda: None)  # let Python run signal handlers
    wakeup.start(250)
    if args.fullscreen:
        window.showFullScreen()
    else:
        window.show()
    code = app.exec()
    discovery.stop()
    ptz.close()  # stops any dome still moving
    supervision.close()
    session.close()
    save()
    late = engine.shutdown(2.0)
    if fleet is not None:
        fleet.stop()
    if late:
        logger.warning("%d stream threads were still in a network call at exit", len(late))
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark RTSP server: live stamped x264 sources, each encoded once and served on many mounts.

Runs under Debian's ``/usr/bin/python3`` (python3-gi, gst-rtsp-server), like
``tests/servers/rtsp_server.py``, whose moving picture and x264 settings it reuses. The
difference: a *source* (``--source sub0=640x360@25``) is one live encoder that runs from
start to exit, and any number of *mounts* (``--mount /cam/00/sub=sub0``) serve its packets.
A 64-tile wall thus costs the server four encoders, not 64, and every frame still carries the
sender's wall-clock time, written just before it is encoded (see ``app.streams.stamp``).

A client that connects joins the running stream at its next key frame, as with a camera
whose encoder runs all the time (the GOP is one second). With ``--frames-log FILE`` the
server writes, on exit, the stamp of every frame each source sent and which were key frames,
so a benchmark can count the frames sent against the frames a client showed.

    /usr/bin/python3 bench/fanout_server.py --port 0 --source sub0=640x360@25 \\
        --mount /c00/sub=sub0 --mount /c01/sub=sub0 --watch-stdin

Prints ``READY port=<n>`` once serving; exits on SIGTERM/SIGINT or stdin EOF (``--watch-stdin``).
"""

from __future__ import annotations

import argparse
import collections
import faulthandler
import json
import os
import signal
import sys
import threading
import time
from array import array
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# isort: off
# This import checks for the GStreamer bindings (exit status 3 and the Debian packages to
# install when they are missing) and requires the versions imported below.
from tests.servers.rtsp_server import MountSpec, Picture, parse_geometry
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer
from app.streams.stamp import read_stamp

# isort: on


class Output:
    """One mount's media: the appsrc its packets go to, starting at a key frame."""

    def __init__(self, appsrc: Any) -> None:
        self.appsrc = appsrc
        self.need_key = True

    def push(self, data: bytes, key: bool) -> bool:
        """Push one access unit; False when the media is gone."""
        if self.need_key:
            if not key:
                return True
            self.need_key = False
        ret = self.appsrc.emit("push-buffer", Gst.Buffer.new_wrapped(data))
        return bool(ret == Gst.FlowReturn.OK)


class Source:
    """A live encoder: stamped pictures paced at the frame rate → x264 → every output."""

    def __init__(self, name: str, spec: MountSpec) -> None:
        self.name = name
        self.spec = spec
        self.picture = Picture(spec)
        self.period = 1.0 / spec.fps
        self.due = 0.0
        self.lock = threading.Lock()
        self.outputs: list[Output] = []
        self.stamps = array("q")  # sender stamp of every frame encoded and sent
        self.key_stamps = array("q")
        self.encoding = threading.Event()  # its first access unit came out of the encoder
        self._queued: collections.deque[int] = collections.deque()
        caps = (
            f"video/x-raw,format=I420,width={spec.width},height={spec.height},"
            f"framerate={spec.fps}/1,colorimetry=bt601,interlace-mode=progressive"
        )
        kbps = max(256, spec.width * spec.height * spec.fps // 11000)
        # Same encoder settings as the test server (one slice per picture, 1 s GOP).
        desc = (
            f"appsrc name=src is-live=true do-timestamp=true format=time block=false caps={caps} "
            f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={spec.fps} bframes=0 "
            f"threads=1 bitrate={kbps} "
            "! video/x-h264,profile=constrained-baseline,stream-format=byte-stream,alignment=au "
            "! appsink name=sink emit-signals=true sync=false max-buffers=8 drop=false"
        )
        self.pipeline = Gst.parse_launch(desc)
        self.pipeline.get_by_name("src").connect("need-data", self._on_need_data)
        self.pipeline.get_by_name("sink").connect("new-sample", self._on_sample)
        self.caps = (
            f"video/x-h264,stream-format=byte-stream,alignment=au,"
            f"width={spec.width},height={spec.height},framerate={spec.fps}/1"
        )

    def start(self) -> None:
        self.pipeline.set_state(Gst.State.PLAYING)

    def stop(self) -> None:
        self.pipeline.set_state(Gst.State.NULL)

    def _on_need_data(self, appsrc: Any, _length: int) -> None:
        # Runs in appsrc's streaming thread: sleeping here paces the live source.
        now = time.monotonic()
        if self.due - now > 0:
            time.sleep(self.due - now)
            self.due += self.period
        else:  # first frame, or starved of CPU: restart the cadence, no burst
            self.due = now + self.period
        data = self.picture.next_frame()
        stamp = read_stamp(self.picture.luma)
        # x264 zerolatency without B-frames: one access unit out per picture in, in order.
        self._queued.append(stamp or 0)
        appsrc.emit("push-buffer", Gst.Buffer.new_wrapped(data))

    def _on_sample(self, sink: Any) -> Any:
        sample = sink.emit("pull-sample")
        buf = sample.get_buffer()
        data = buf.extract_dup(0, buf.get_size())
        key = not buf.has_flags(Gst.BufferFlags.DELTA_UNIT)
        stamp = self._queued.popleft() if self._queued else 0
        with self.lock:
            outputs = list(self.outputs)
            self.stamps.append(stamp)
            if key:
                self.key_stamps.append(stamp)
        self.encoding.set()
        gone = [out for out in outputs if not out.push(data, key)]
        if gone:
            with self.lock:
                self.outputs = [o for o in self.outputs if o not in gone]
        return Gst.FlowReturn.OK

    def attach(self, appsrc: Any) -> Output:
        out = Output(appsrc)
        with self.lock:
            self.outputs.append(out)
        return out

    def detach(self, out: Output) -> None:
        with self.lock:
            if out in self.outputs:
                self.outputs.remove(out)


class Server:
    """gst-rtsp-server with one shared media factory per mount, fed by its source."""

    def __init__(self, port: int, sources: dict[str, Source], mounts: dict[str, str]) -> None:
        self.loop = GLib.MainLoop()
        self.sources = sources
        self.server = GstRtspServer.RTSPServer()
        self.server.set_address("127.0.0.1")
        self.server.set_service(str(port))
        # One thread per client: a new media answers DESCRIBE only once its first key frame
        # arrives (up to one GOP), and with the default single thread every other client
        # would wait behind it, turning a 16-tile start into a 16-second queue.
        self.server.get_thread_pool().set_max_threads(-1)
        points = self.server.get_mount_points()
        for path, source_name in mounts.items():
            source = sources[source_name]
            factory = GstRtspServer.RTSPMediaFactory()
            factory.set_launch(
                f"( appsrc name=src is-live=true do-timestamp=true format=time block=false "
                f"caps={source.caps} ! h264parse config-interval=-1 "
                "! rtph264pay name=pay0 pt=96 config-interval=-1 aggregate-mode=zero-latency )"
            )
            factory.set_shared(True)
            factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
            factory.connect("media-configure", self._on_media_configure, source)
            points.add_factory(path, factory)

    def _on_media_configure(self, _factory: Any, media: Any, source: Source) -> None:
        out = source.attach(media.get_element().get_by_name_recurse_up("src"))
        media.connect("unprepared", lambda *_: source.detach(out))

    def _cleanup(self) -> bool:
        self.server.get_session_pool().cleanup()
        return True

    def run(self, watch_stdin: bool) -> int:
        if not self.server.attach(None):
            sys.stderr.write("fanout_server: cannot listen\n")
            return 5
        # Cameras' key frames are not in step: start the encoders spread over one GOP.
        for i, source in enumerate(self.sources.values()):
            GLib.timeout_add(round(i * 1000 / len(self.sources)), self._start, source)
        GLib.timeout_add_seconds(2, self._cleanup)
        for signum in (signal.SIGTERM, signal.SIGINT):
            GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, self._quit)
        if watch_stdin:
            GLib.io_add_watch(
                sys.stdin.fileno(),
                GLib.PRIORITY_DEFAULT,
                GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR,
                self._on_stdin,
            )
        GLib.timeout_add(10, self._announce_when_encoding)
        self.loop.run()
        for source in self.sources.values():
            source.stop()
        return 0

    def _announce_when_encoding(self) -> bool:
        # Ready once every encoder has put out its first access unit. A client connecting
        # while its encoder was still starting (the tests connect the moment READY is
        # printed) got one RTP packet and then nothing, about once in 20 starts: the mount's
        # appsrc queued every later frame. Announced after the first frame: none in 120.
        if not all(s.encoding.is_set() for s in self.sources.values()):
            return GLib.SOURCE_CONTINUE
        sys.stdout.write(f"READY port={self.server.get_bound_port()}\n")
        sys.stdout.flush()
        return GLib.SOURCE_REMOVE

    def _start(self, source: Source) -> bool:
        source.start()
        return GLib.SOURCE_REMOVE

    def _quit(self) -> bool:
        self.loop.quit()
        return GLib.SOURCE_REMOVE

    def _on_stdin(self, fd: int, _condition: Any) -> bool:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            self.loop.quit()
            return GLib.SOURCE_REMOVE
        return GLib.SOURCE_CONTINUE

    def frames_log(self) -> dict[str, Any]:
        out = {}
        for name, s in self.sources.items():
            with s.lock:
                out[name] = {
                    "fps": s.spec.fps,
                    "width": s.spec.width,
                    "height": s.spec.height,
                    "stamps_ns": list(s.stamps),
                    "key_stamps_ns": list(s.key_stamps),
                }
        return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--source", action="append", default=[], metavar="NAME=WxH@FPS")
    ap.add_argument("--mount", action="append", default=[], metavar="/PATH=SOURCE")
    ap.add_argument("--frames-log", type=Path, help="write sent-frame stamps here on exit")
    ap.add_argument("--watch-stdin", action="store_true")
    args = ap.parse_args(argv)
    Gst.init(None)
    sources: dict[str, Source] = {}
    for i, text in enumerate(args.source):
        name, _, geometry = text.partition("=")
        w, h, fps = parse_geometry(geometry)
        sources[name] = Source(name, MountSpec(f"/{name}", "h264", w, h, fps, seed=11 + i))
    mounts: dict[str, str] = {}
    for text in args.mount:
        path, _, name = text.partition("=")
        if not path.startswith("/") or name not in sources:
            sys.stderr.write(f"fanout_server: bad mount {text!r}\n")
            return 4
        mounts[path] = name
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    server = Server(args.port, sources, mounts)
    code = server.run(args.watch_stdin)
    if args.frames_log:
        args.frames_log.write_text(json.dumps(server.frames_log()))
    return code


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # GStreamer threads may still be inside Python callbacks

"""Tours: an ordered list of presets with dwell times, run by the client, stopped by any input."""

from __future__ import annotations

import collections
import concurrent.futures
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from app.events import Signal
from app.layouts.store import atomic_write, keep_aside
from app.ptz.controller import PtzController
from app.ptz.session import PtzSession

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TourStep:
    preset: str  # preset token
    dwell_s: float  # from the GotoPreset to the next step, travel included


@dataclass(frozen=True, slots=True)
class Tour:
    name: str
    steps: tuple[TourStep, ...]
    repeat: bool = True

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError(f"tour {self.name!r} has no steps")
        for s in self.steps:
            if s.dwell_s <= 0:
                raise ValueError(f"tour {self.name!r}: dwell must be > 0 (preset {s.preset})")


class TourRunner:
    """Runs one tour on one controller: GotoPreset, wait the dwell, next preset, ….

    Call ``tick()`` often (the GUI timer, or the CLI loop). ``stop()`` ends it; a session
    passed to ``stop_on_input_of`` stops it at the operator's first manual input.

    Signals: step_changed(int index, TourStep), stopped(str reason).
    Thread: one owner thread calls start/tick/stop; ``stop`` is also safe from others.
    """

    def __init__(
        self, controller: PtzController, tour: Tour, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.controller = controller
        self.tour = tour
        self._clock = clock
        self.index = -1
        self.running = False
        self._next_at = 0.0
        self.step_changed: Signal[[int, TourStep]] = Signal()
        self.stopped: Signal[[str]] = Signal()
        # The latest failures only: a tour runs all shift, on a dome that may be down for hours.
        self.errors: collections.deque[BaseException] = collections.deque(maxlen=50)

    def stop_on_input_of(self, session: PtzSession) -> None:
        """Stop at the first manual input of ``session``."""
        session.manual_input.connect(self._on_manual_input)

    def _on_manual_input(self) -> None:
        self.stop("manual input")

    def start(self) -> None:
        self.running = True
        self._go(0)

    def tick(self) -> None:
        if not self.running or self._clock() < self._next_at:
            return
        nxt = self.index + 1
        if nxt >= len(self.tour.steps):
            if not self.tour.repeat:
                self.stop("finished")
                return
            nxt = 0
        self._go(nxt)

    def stop(self, reason: str = "stopped") -> None:
        if not self.running:
            return
        self.running = False
        log.info("tour %s stopped: %s", self.tour.name, reason)
        self.stopped.emit(reason)

    def _go(self, index: int) -> None:
        step = self.tour.steps[index]
        self.index = index
        self._next_at = self._clock() + step.dwell_s
        future = self.controller.goto_preset(step.preset)
        future.add_done_callback(self._on_done)
        self.step_changed.emit(index, step)

    def _on_done(self, f: concurrent.futures.Future[bool]) -> None:
        if not f.cancelled() and (exc := f.exception()) is not None:
            # A preset that fails once (camera busy) does not end the tour; the next step runs.
            self.errors.append(exc)
            log.warning("tour %s: %s", self.tour.name, exc)


def tours_to_json(tours: Sequence[Tour]) -> str:
    return json.dumps([asdict(t) for t in tours], indent=1)


def tours_from_json(text: str) -> list[Tour]:
    out = []
    for t in json.loads(text):
        steps = tuple(TourStep(str(s["preset"]), float(s["dwell_s"])) for s in t["steps"])
        out.append(Tour(str(t["name"]), steps, bool(t.get("repeat", True))))
    return out


def save_tours(path: Path, tours: Sequence[Tour]) -> None:
    """Atomically and durably: temp file, fsync, rename."""
    atomic_write(path, tours_to_json(tours))


def load_tours(path: Path) -> list[Tour]:
    """The dome's saved tours; none when there are none or the file is damaged.

    A damaged file (a power cut before fsync existed here, a hand edit) is kept aside, never
    deleted, and must not stop the PTZ panel from opening.
    """
    try:
        return tours_from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except OSError as e:
        log.error("tours file %s cannot be read: %s", path, e)
        return []
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        log.warning("tours file %s is unreadable (%s); kept as %s", path, e, keep_aside(path))
        return []

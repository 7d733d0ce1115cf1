"""MainThreadBridge: closures from any thread run once each, on the GUI thread, in order."""

from __future__ import annotations

import threading

from PySide6.QtCore import QThread

from widgets.bridge import MainThreadBridge


def test_a_burst_from_many_threads_runs_every_closure_once_in_order(qtbot) -> None:
    bridge = MainThreadBridge()
    ran: list[tuple[int, int]] = []
    on_gui: list[bool] = []
    gui = QThread.currentThread()

    def record(t: int, i: int) -> None:
        on_gui.append(QThread.currentThread() is gui)
        ran.append((t, i))

    def burst(t: int) -> None:
        for i in range(200):
            bridge.post(lambda t=t, i=i: record(t, i))

    threads = [threading.Thread(target=burst, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    qtbot.waitUntil(lambda: len(ran) == 800, timeout=10000)
    qtbot.wait(50)  # nothing runs twice
    assert len(ran) == 800
    assert all(on_gui)
    for t in range(4):
        assert [i for tt, i in ran if tt == t] == list(range(200))  # each thread's order kept


def test_a_failing_closure_does_not_drop_the_rest_and_a_closure_may_post(qtbot) -> None:
    bridge = MainThreadBridge()
    ran: list[str] = []

    def boom() -> None:
        raise RuntimeError("handler bug")

    def first() -> None:
        ran.append("first")
        bridge.post(lambda: ran.append("posted by first"))  # from the GUI thread, mid-batch

    bridge.post(first)
    bridge.post(boom)
    bridge.post(lambda: ran.append("after the failure"))
    qtbot.waitUntil(lambda: len(ran) == 3, timeout=5000)
    assert ran == ["first", "after the failure", "posted by first"]

"""The text a tile shows over a picture that is not live, kept out of the widget to be testable."""

from __future__ import annotations

from datetime import datetime

from app.streams.status import StreamState, StreamStatus


def notice_lines(status: StreamStatus, now: float, compact: bool = False) -> list[str]:
    """Lines for a tile whose stream is not live, e.g. for an offline camera::

        offline since 14:02:11
        connection refused
        next retry in 8 s

    ``now`` is the wall clock (``time.time()``), like the status' times; ``since`` is shown
    in local time, as the operator's clock on the wall. ``compact`` (a small tile or one
    optic of a mosaic) leaves out the retry line, which would not fit.
    """
    if status.state == StreamState.CONNECTING:
        return ["connecting…"]
    since = datetime.fromtimestamp(status.since).strftime("%H:%M:%S") if status.since else "?"
    lines = [f"{status.state} since {since}"]
    if status.reason:
        lines.append(status.reason)
    if status.next_retry_at is not None and not compact:
        wait = max(0, round(status.next_retry_at - now))
        lines.append(f"next retry in {wait} s" if wait else "retrying now")
    return lines

"""notice_lines: what a tile says over a picture that is not live."""

from __future__ import annotations

from datetime import datetime

from app.streams.notice import notice_lines
from app.streams.status import StreamState, StreamStatus

# Local time, as the tile prints it: 14:02:11 whatever the machine's time zone.
SINCE = datetime(2024, 5, 17, 14, 2, 11).timestamp()


def test_offline_says_since_reason_and_next_retry() -> None:
    status = StreamStatus(StreamState.OFFLINE, "connection refused", SINCE, SINCE + 20)
    assert notice_lines(status, now=SINCE + 12) == [
        "offline since 14:02:11",
        "connection refused",
        "next retry in 8 s",
    ]


def test_retry_due_or_overdue_says_retrying_now() -> None:
    status = StreamStatus(StreamState.OFFLINE, "timeout", SINCE, SINCE + 5)
    assert notice_lines(status, now=SINCE + 5.2)[-1] == "retrying now"
    assert notice_lines(status, now=SINCE + 60)[-1] == "retrying now"


def test_unauthorized() -> None:
    status = StreamStatus(
        StreamState.UNAUTHORIZED, "wrong user name or password", SINCE, SINCE + 30
    )
    assert notice_lines(status, now=SINCE) == [
        "unauthorized since 14:02:11",
        "wrong user name or password",
        "next retry in 30 s",
    ]


def test_stalled_without_reason_or_retry() -> None:
    status = StreamStatus(StreamState.STALLED, "", SINCE, None)
    assert notice_lines(status, now=SINCE + 4) == ["stalled since 14:02:11"]


def test_connecting() -> None:
    assert notice_lines(StreamStatus(StreamState.CONNECTING, "", SINCE), now=SINCE) == [
        "connecting…"
    ]


def test_compact_leaves_out_the_retry_line() -> None:
    status = StreamStatus(StreamState.OFFLINE, "unreachable", SINCE, SINCE + 20)
    assert notice_lines(status, now=SINCE, compact=True) == [
        "offline since 14:02:11",
        "unreachable",
    ]


def test_unknown_start_time() -> None:
    status = StreamStatus(StreamState.ERROR, "boom", 0.0, None)
    assert notice_lines(status, now=SINCE) == ["error since ?", "boom"]

"""Test-wide setup: offscreen Qt, automatic 'gui' marker, the real RTSP server fixtures."""

from __future__ import annotations

import os

import pytest

# Before any Qt import: no display here, and tests must not need one (xvfb tests set xcb).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TORRAZZO_STATE_DIR", "/tmp/torrazzo-test-state")

pytest_plugins = ["tests.fixtures_rtsp"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if {"qapp", "qtbot"} & set(getattr(item, "fixturenames", ())):
            item.add_marker("gui")

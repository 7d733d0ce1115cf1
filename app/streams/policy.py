"""Adaptive stream choice: which profile a tile should decode for its on-screen size."""

from __future__ import annotations

from app.site.model import Optic, Stream, StreamRole

# Nx Witness switches to the secondary stream below 172 px; we compare against the sub
# stream's own height so a 640x360 sub is used until it would be visibly upscaled.
SUB_HEIGHT = 360
UP_FACTOR = 1.3  # sub → main once the tile is 30 % taller than the sub picture
DOWN_FACTOR = 1.0  # main → sub only when the tile is no taller than the sub picture


def choose_role(
    current: StreamRole | None, tile_height_px: int, sub_height: int = SUB_HEIGHT
) -> StreamRole:
    """Main or sub for a tile ``tile_height_px`` device pixels tall, with hysteresis."""
    if current == StreamRole.MAIN:
        return StreamRole.SUB if tile_height_px <= sub_height * DOWN_FACTOR else StreamRole.MAIN
    return StreamRole.MAIN if tile_height_px > sub_height * UP_FACTOR else StreamRole.SUB


def pick_stream(optic: Optic, role: StreamRole) -> Stream | None:
    """The optic's stream for ``role``, falling back to the other one if it has only one."""
    return optic.stream(role) or optic.stream(
        StreamRole.SUB if role == StreamRole.MAIN else StreamRole.MAIN
    )

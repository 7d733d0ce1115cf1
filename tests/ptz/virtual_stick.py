"""SDL's own virtual joystick (SDL_JoystickAttachVirtual) for the joystick tests."""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
with warnings.catch_warnings():
    # pysdl2 warns on import that it found pysdl2-dll's library: that is expected.
    warnings.simplefilter("ignore", UserWarning)
    import sdl2


class VirtualStick:
    """An SDL virtual joystick: 3 axes, 8 buttons."""

    def __init__(self) -> None:
        self.index = sdl2.SDL_JoystickAttachVirtual(sdl2.SDL_JOYSTICK_TYPE_GAMECONTROLLER, 3, 8, 0)
        assert self.index >= 0, sdl2.SDL_GetError()
        self.handle = sdl2.SDL_JoystickOpen(self.index)
        assert self.handle

    def axis(self, axis: int, value: float) -> None:
        raw = max(-32768, min(32767, round(value * 32767)))
        assert sdl2.SDL_JoystickSetVirtualAxis(self.handle, axis, raw) == 0

    def button(self, button: int, down: bool) -> None:
        assert sdl2.SDL_JoystickSetVirtualButton(self.handle, button, int(down)) == 0

    def detach(self) -> None:
        sdl2.SDL_JoystickClose(self.handle)
        sdl2.SDL_JoystickDetachVirtual(self.index)

"""Operator input devices (joystick) turned into PTZ speeds and actions."""

"""OnvifError: every ONVIF failure as one of a few kinds with a message fit for an operator."""

from __future__ import annotations

import asyncio
import enum
import sys
from typing import Any


class OnvifErrorKind(enum.StrEnum):
    UNAUTHORIZED = "unauthorized"  # wrong user name or password, or clock too far off
    NOT_SUPPORTED = "not supported"  # the device has no such service, operation or profile
    UNREACHABLE = "unreachable"  # connection refused, reset or no route
    TIMEOUT = "timeout"  # no answer in time
    DEVICE = "device"  # the device refused the request: its own fault text
    CREDENTIAL = "credential"  # the credential reference could not be resolved here
    CLOSED = "closed"  # the client was closed while the call was pending


class OnvifError(Exception):
    """An ONVIF call that failed; ``str()`` is ``message``, which never holds a secret."""

    def __init__(self, kind: OnvifErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def __repr__(self) -> str:
        return f"OnvifError({self.kind.value!r}, {self.message!r})"


_NOT_SUPPORTED_CODES = {
    "ActionNotSupported",
    "NoPTZProfile",
    "NoImagingForSource",
    "NoSuchService",
    "OperationProhibited",
    "SpaceNotSupported",
}


def _subcodes(fault: Any) -> list[str]:
    out = []
    for code in getattr(fault, "subcodes", None) or []:
        name = getattr(code, "localname", None) or str(code).rpartition("}")[2]
        out.append(name.rpartition(":")[2])
    return out


def map_error(exc: BaseException, what: str) -> OnvifError:
    """The OnvifError for an exception raised by onvif-zeep-async, aiohttp or asyncio."""
    if isinstance(exc, OnvifError):
        return exc
    # Imported here: zeep and aiohttp come with onvif, which is imported lazily (see client.py).
    import aiohttp
    from zeep.exceptions import Fault, TransportError

    if isinstance(exc, Fault):
        codes = _subcodes(exc)
        text = (exc.message or "").strip() or "/".join(codes) or "fault"
        if "NotAuthorized" in codes or "auth" in text.lower():
            return OnvifError(
                OnvifErrorKind.UNAUTHORIZED,
                f"{what}: not authorized (wrong user name or password)",
            )
        if _NOT_SUPPORTED_CODES & set(codes):
            return OnvifError(OnvifErrorKind.NOT_SUPPORTED, f"{what}: not supported ({text})")
        return OnvifError(OnvifErrorKind.DEVICE, f"{what}: the device refused: {text}")
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return OnvifError(OnvifErrorKind.TIMEOUT, f"{what}: no answer in time")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return OnvifError(OnvifErrorKind.UNREACHABLE, f"{what}: unreachable ({_os_reason(exc)})")
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError):
        return OnvifError(OnvifErrorKind.UNREACHABLE, f"{what}: connection lost")
    if isinstance(exc, aiohttp.ClientError):
        return OnvifError(OnvifErrorKind.UNREACHABLE, f"{what}: {type(exc).__name__}")
    if isinstance(exc, TransportError):
        if exc.status_code in (401, 403):
            # Cameras that check HTTP digest before WS-Security answer a wrong password so;
            # as UNAUTHORIZED the client drops its connection and re-reads the credential.
            return OnvifError(
                OnvifErrorKind.UNAUTHORIZED,
                f"{what}: not authorized (wrong user name or password)",
            )
        return OnvifError(OnvifErrorKind.DEVICE, f"{what}: HTTP {exc.status_code}")
    if isinstance(exc, ConnectionError | OSError):
        return OnvifError(OnvifErrorKind.UNREACHABLE, f"{what}: unreachable ({exc})")
    # Not imported here: importing onvif has side effects (see client.import_onvif), and
    # if it was never imported, nothing raised one of its exceptions.
    onvif_exceptions = sys.modules.get("onvif.exceptions")
    if onvif_exceptions is not None and isinstance(exc, onvif_exceptions.ONVIFError):
        # From the non-async parts, e.g. a service the device did not list.
        return OnvifError(OnvifErrorKind.NOT_SUPPORTED, f"{what}: not supported ({exc})")
    return OnvifError(OnvifErrorKind.DEVICE, f"{what}: {type(exc).__name__}: {exc}")


def _os_reason(exc: Any) -> str:
    os_error = getattr(exc, "os_error", None)
    if isinstance(os_error, ConnectionRefusedError):
        return "connection refused"
    strerror = getattr(os_error, "strerror", None)
    return str(strerror or "cannot connect").lower()

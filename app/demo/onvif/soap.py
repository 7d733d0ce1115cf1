"""SOAP 1.2 plumbing for the demo ONVIF service: XML building, faults, parsing, WS-Security."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

ENV = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PASSWORD_DIGEST = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordDigest"
)

# Prefixes declared once on every response envelope; templates use them freely.
NAMESPACES: dict[str, str] = {
    "env": ENV,
    "ter": "http://www.onvif.org/ver10/error",
    "tt": "http://www.onvif.org/ver10/schema",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
    "timg": "http://www.onvif.org/ver20/imaging/wsdl",
}
CONTENT_TYPE = "application/soap+xml; charset=utf-8"

# Real cameras reject a UsernameToken whose Created is too far from their clock;
# this is what onvif-zeep-async's adjust_time exists for.
MAX_CLOCK_SKEW_S = 300.0


class SoapFault(Exception):
    """A SOAP fault to send back; ``subcodes`` are ``ter:`` local names, outermost first."""

    def __init__(self, code: str, subcodes: tuple[str, ...], reason: str) -> None:
        super().__init__(reason)
        self.code = code  # "Sender" or "Receiver"
        self.subcodes = subcodes
        self.reason = reason

    @property
    def http_status(self) -> int:
        # SOAP 1.2 HTTP binding: the client's fault is 400, the server's is 500.
        return 400 if self.code == "Sender" else 500


def sender(*subcodes: str, reason: str) -> SoapFault:
    return SoapFault("Sender", subcodes, reason)


def receiver(*subcodes: str, reason: str) -> SoapFault:
    return SoapFault("Receiver", subcodes, reason)


# --- building ---------------------------------------------------------------------------------


def fmt(value: object) -> str:
    """An XML Schema lexical form for a Python value (bool, int, float, str)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(round(value, 6))
    return str(value)


def el(tag: str, *children: str, **attrs: object) -> str:
    """An element whose children are already-serialised XML strings; None attrs are left out."""
    head = tag + "".join(f" {k}={quoteattr(fmt(v))}" for k, v in attrs.items() if v is not None)
    if not children:
        return f"<{head}/>"
    return f"<{head}>{''.join(children)}</{tag}>"


def tx(tag: str, value: object, **attrs: object) -> str:
    """An element holding escaped text."""
    head = tag + "".join(f" {k}={quoteattr(fmt(v))}" for k, v in attrs.items() if v is not None)
    return f"<{head}>{escape(fmt(value))}</{tag}>"


def envelope(body: str) -> bytes:
    decls = " ".join(f'xmlns:{p}="{u}"' for p, u in NAMESPACES.items())
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope {decls}>'
        f"<env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


def fault_body(fault: SoapFault) -> bytes:
    sub = ""
    for code in reversed(fault.subcodes):
        sub = el("env:Subcode", tx("env:Value", f"ter:{code}"), *([sub] if sub else []))
    return envelope(
        el(
            "env:Fault",
            el("env:Code", tx("env:Value", f"env:{fault.code}"), *([sub] if sub else [])),
            el("env:Reason", tx("env:Text", fault.reason, **{"xml:lang": "en"})),
        )
    )


def xs_datetime(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def xs_duration(seconds: float) -> str:
    return f"PT{fmt(float(seconds)).removesuffix('.0')}S"


_DURATION = re.compile(
    r"^(-)?P(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> float:
    """Seconds in an xs:duration such as PT1S, PT0.3S or P0DT0H1M; years and months as 365/30 d."""
    m = _DURATION.match(text.strip())
    if m is None or text.strip() in ("P", "PT") or text.strip().endswith("T"):
        raise sender("InvalidArgVal", reason=f"not an xs:duration: {text!r}")
    y, mo, d, h, mi, s = (float(g) if g else 0.0 for g in m.groups()[1:])
    total = ((y * 365 + mo * 30 + d) * 24 + h) * 3600 + mi * 60 + s
    return -total if m.group(1) else total


# --- parsing ----------------------------------------------------------------------------------


def local(tag: str) -> str:
    return tag.rpartition("}")[2]


def namespace(tag: str) -> str:
    return tag[1:].partition("}")[0] if tag.startswith("{") else ""


def children(parent: ET.Element, name: str) -> Iterator[ET.Element]:
    """Children by local name: ONVIF request parameters mix service and tt namespaces."""
    return (c for c in parent if local(c.tag) == name)


def child(parent: ET.Element | None, name: str) -> ET.Element | None:
    if parent is None:
        return None
    return next(children(parent, name), None)


def text(parent: ET.Element | None, name: str) -> str | None:
    c = child(parent, name)
    return None if c is None else (c.text or "").strip()


def required_text(parent: ET.Element, name: str) -> str:
    value = text(parent, name)
    if not value:
        raise sender("InvalidArgs", reason=f"{local(parent.tag)}: missing {name}")
    return value


def to_float(value: str | None, what: str) -> float:
    try:
        f = float(value) if value is not None else math.nan
    except ValueError:
        f = math.nan
    if not math.isfinite(f):
        raise sender("InvalidArgVal", reason=f"{what}: not a finite number: {value!r}")
    return f


def to_bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise sender("InvalidArgVal", reason=f"not an xs:boolean: {value!r}")


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed SOAP request: its operation element and its WS-Security header, if any."""

    operation: ET.Element
    security: ET.Element | None

    @property
    def name(self) -> str:
        return local(self.operation.tag)

    @property
    def namespace(self) -> str:
        return namespace(self.operation.tag)


def parse_request(body: bytes) -> Request:
    # Entity declarations are never legitimate in SOAP and are how XML bombs start.
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise sender("WellFormed", reason="DTDs are not allowed in SOAP messages")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise sender("WellFormed", reason=f"malformed XML: {e}") from None
    if root.tag != f"{{{ENV}}}Envelope":
        raise SoapFault("VersionMismatch", (), f"not a SOAP 1.2 envelope: {root.tag}")
    body_el = root.find(f"{{{ENV}}}Body")
    if body_el is None or len(body_el) == 0:
        raise sender("InvalidArgs", reason="SOAP Body is missing or empty")
    header = root.find(f"{{{ENV}}}Header")
    security = None if header is None else header.find(f"{{{WSSE}}}Security")
    return Request(operation=body_el[0], security=security)


# --- WS-Security UsernameToken ------------------------------------------------------------------


def check_username_token(
    security: ET.Element | None, username: str, password: str, now: dt.datetime
) -> str | None:
    """None when the token proves ``username``/``password``, else why not (for the log)."""
    token = None if security is None else security.find(f"{{{WSSE}}}UsernameToken")
    if token is None:
        return "no UsernameToken"
    user = token.findtext(f"{{{WSSE}}}Username", "").strip()
    pw_el = token.find(f"{{{WSSE}}}Password")
    if pw_el is None:
        return "no Password"
    given = (pw_el.text or "").strip()
    if pw_el.get("Type", "").endswith("#PasswordDigest"):
        nonce_b64 = token.findtext(f"{{{WSSE}}}Nonce", "").strip()
        created = token.findtext(f"{{{WSU}}}Created", "").strip()
        try:
            nonce = base64.b64decode(nonce_b64, validate=True)
        except (binascii.Error, ValueError):
            return "Nonce is not base64"
        when = _parse_created(created)
        if when is None:
            return f"bad Created {created!r}"
        if abs((when - now).total_seconds()) > MAX_CLOCK_SKEW_S:
            return f"Created {created} is too far from the device clock"
        expected = base64.b64encode(
            hashlib.sha1(nonce + created.encode() + password.encode()).digest()
        ).decode()
        ok = hmac.compare_digest(given.encode(), expected.encode())
    else:
        ok = hmac.compare_digest(given.encode(), password.encode())
    # Compare both even when the user is wrong, so timing does not tell which one failed.
    if not (hmac.compare_digest(user.encode(), username.encode()) and ok):
        return f"wrong credentials for user {user!r}"
    return None


def _parse_created(value: str) -> dt.datetime | None:
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t

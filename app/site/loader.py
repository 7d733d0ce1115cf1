"""Load a YAML site file into ``app.site.model`` objects; every error names file, line and field."""

from __future__ import annotations

import difflib
import logging
import re
import types
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from app.site.model import (
    SCHEMA_VERSION,
    Camera,
    CameraKind,
    CredentialRef,
    MapBackground,
    Neighbourhood,
    OnvifEndpoint,
    Optic,
    Site,
    Stream,
    StreamRole,
)
from app.site.schema import (
    NETWORK_SCHEMES,
    RTSP_SCHEMES,
    CameraSpec,
    SiteSpec,
    StreamsSpec,
    url_scheme,
)

logger = logging.getLogger(__name__)

REFERENCE_SITE = Path(__file__).resolve().parents[2] / "resources" / "sites" / "cremona.yaml"
"""The Cremona reference site, as served by the built-in demo fleet."""

Loc = tuple[str | int, ...]


class SiteError(Exception):
    """A site file that cannot be used.

    Attributes:
        path: the site file.
        line: 1-based line of the first problem, or None when unknown.
        field: dotted path of the first problem, like ``cameras[3].streams.main`` ("" if none).
        message: what is wrong with it.
        errors: every problem found, first one included, each a SiteError of its own.
    """

    def __init__(
        self,
        path: Path | None,
        line: int | None,
        field: str,
        message: str,
        errors: Sequence[SiteError] | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.message = message
        self.errors: tuple[SiteError, ...] = tuple(errors) if errors else (self,)
        super().__init__(str(self))

    @classmethod
    def collect(cls, errors: Sequence[SiteError]) -> SiteError:
        """One SiteError standing for several, sorted by line; ``str()`` prints them all."""
        ordered = sorted(errors, key=lambda e: (e.line is None, e.line or 0))
        first = ordered[0]
        return cls(first.path, first.line, first.field, first.message, ordered)

    def _one_line(self) -> str:
        where = self.path.name if self.path is not None else "<site>"
        if self.line is not None:
            where += f":{self.line}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )

    def __str__(self) -> str:
        if len(self.errors) == 1:
            return self._one_line()
        return "\n".join(e._one_line() for e in self.errors)


def load_site(path: Path | str) -> Site:
    """Read, check and build the site in ``path``.

    Raises:
        SiteError: the file cannot be read, is not valid YAML, or does not describe a valid site.
            All problems found are in ``errors``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise SiteError(path, None, "", f"not UTF-8 text ({e.reason} at byte {e.start})") from e
    except OSError as e:
        raise SiteError(path, None, "", f"cannot read the site file: {e.strerror or e}") from e
    site = load_site_text(text, path)
    logger.info(
        "site %r loaded from %s: %d cameras, %d neighbourhoods",
        site.name,
        path,
        len(site.cameras),
        len(site.neighbourhoods),
    )
    return site


def load_site_text(text: str, path: Path | None = None) -> Site:
    """Like :func:`load_site` for YAML already in memory; ``path`` only names it in errors."""
    yaml = YAML(typ="rt")
    try:
        root = yaml.load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        detail = ": ".join(p for p in (e.context, e.problem) if p)
        raise SiteError(path, line, "", f"YAML syntax error: {detail}") from e
    except YAMLError as e:
        raise SiteError(path, None, "", f"YAML syntax error: {e}") from e
    return _check_and_build(root, path)


def site_from_mapping(data: Mapping[str, Any], path: Path | None = None) -> Site:
    """Check and build a site from already parsed data (no line numbers unless it is ruamel's)."""
    return _check_and_build(data, path)


# --- checking -------------------------------------------------------------------------------


def _check_and_build(root: Any, path: Path | None) -> Site:
    if not isinstance(root, Mapping):
        got = "an empty file" if root is None else f"a {_kind_of(root)}"
        raise SiteError(
            path, 1, "", f"a site file is a mapping (schema_version:, name:, cameras:), got {got}"
        )
    version_error = _check_version(root, path)
    if version_error is not None:
        raise version_error
    data = _plain(root)
    errors: list[SiteError] = []
    spec: SiteSpec | None = None
    try:
        spec = SiteSpec.model_validate(data)
    except pydantic.ValidationError as e:
        errors.extend(_from_pydantic(e, root, path))
    for loc, message in _cross_checks(data, root):
        errors.append(_error_at(root, path, loc, message))
    if errors:
        raise SiteError.collect(_unique(errors))
    assert spec is not None
    return _build(spec, path)


def _check_version(root: Mapping[str, Any], path: Path | None) -> SiteError | None:
    # Checked first and alone: a newer file would otherwise fail with a pile of
    # unknown-field errors that hide the real cause.
    version = root.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int):
        return None  # missing or not a number: reported with the other field errors
    if version > SCHEMA_VERSION:
        message = (
            f"schema_version {version} is newer than this build of Torrazzo supports;"
            f" it reads schema_version {SCHEMA_VERSION}"
        )
    elif version < 1:
        message = (
            f"invalid schema_version {version}; this build reads schema_version {SCHEMA_VERSION}"
        )
    else:
        return None
    return _error_at(root, path, ("schema_version",), message)


def _plain(node: Any) -> Any:
    """ruamel's round-trip nodes as plain dict/list/str/int/float: pydantic sees plain types."""
    if isinstance(node, Mapping):
        # Complex keys (``? [a, b]``) are unhashable once plain; keep them as text.
        return {
            _plain(k) if isinstance(k, str | int | float) else str(k): _plain(v)
            for k, v in node.items()
        }
    if isinstance(node, list | tuple):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    for t in (str, int, float):
        if isinstance(node, t):
            return t(node)
    return node


def _locate(root: Any, loc: Loc) -> tuple[int | None, Loc]:
    """The 1-based line of ``loc`` in the YAML tree and the part of ``loc`` worth showing.

    Stops at the deepest node that exists: a missing field points at its parent mapping.
    A path that goes on below a scalar (``streams.main.url`` where ``main`` is a plain URL
    string) is cut back to that scalar.
    """
    node = root
    line: int | None = 1 if hasattr(root, "lc") else None
    for depth, part in enumerate(loc):
        if isinstance(node, Mapping) and not isinstance(part, int | str):
            break
        if isinstance(node, Mapping) and part in node:
            if hasattr(node, "lc"):
                line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            if hasattr(node, "lc"):
                line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            if not isinstance(node, Mapping | list):
                return line, loc[:depth]
            break
    return line, loc


def _format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _error_at(root: Any, path: Path | None, loc: Loc, message: str) -> SiteError:
    line, shown = _locate(root, loc)
    return SiteError(path, line, _format_loc(shown), message)


def _unique(errors: Iterable[SiteError]) -> list[SiteError]:
    seen: set[tuple[int | None, str, str]] = set()
    out = []
    for e in errors:
        key = (e.line, e.field, e.message)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def _from_pydantic(
    exc: pydantic.ValidationError, root: Any, path: Path | None
) -> Iterator[SiteError]:
    for err in exc.errors(include_url=False):
        loc: Loc = tuple(p for p in err["loc"] if p != "[key]")
        yield _error_at(root, path, loc, _describe(err, loc))


def _kind_of(value: Any) -> str:
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list | tuple):
        return "list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "text"


def _got(value: Any, sensitive: bool) -> str:
    if sensitive:
        return ""  # under credentials: the value may be a secret
    if isinstance(value, Mapping | list | tuple) or value is None:
        return f", got a {_kind_of(value)}"
    text = repr(value)
    return f", got {text if len(text) <= 60 else text[:57] + '...'}"


_EXPECTED = {
    "string_type": "expected text",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "model_type": "expected a mapping (key: value lines)",
    "model_attributes_type": "expected a mapping (key: value lines)",
    "dict_type": "expected a mapping (key: value lines)",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
}


def _describe(err: Any, loc: Loc) -> str:
    kind: str = err["type"]
    value = err.get("input")
    ctx: dict[str, Any] = err.get("ctx") or {}
    sensitive = bool(loc) and loc[0] == "credentials"
    if kind == "missing":
        if loc == ("schema_version",):
            return f"required field is missing; this build reads schema_version {SCHEMA_VERSION}"
        return "required field is missing"
    if kind == "extra_forbidden":
        return _unknown_field(loc)
    if kind in ("enum", "literal_error"):
        allowed = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        if sensitive:
            return f"must be one of {', '.join(allowed)}"
        return f"{value!r} is not one of {', '.join(allowed)}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    if kind in ("too_short", "too_long") and ctx.get("field_type") == "Tuple":
        return f"expected a [lat, lon] pair, got {ctx.get('actual_length')} items"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_pattern_mismatch":
        return (
            f"{value!r} is not a valid id: use letters, digits, '_', '-' or '.',"
            " starting with a letter or digit"
        )
    if kind in _EXPECTED:
        return _EXPECTED[kind] + _got(value, sensitive)
    msg = str(err["msg"])
    msg = msg.replace("Input should be", "must be", 1)
    return msg + _got(value, sensitive)


# Words people reach for that difflib would not match to our field names.
_SYNONYMS = {
    "latitude": "lat",
    "longitude": "lon",
    "lng": "lon",
    "type": "kind",
    "direction": "heading",
    "bearing": "heading",
    "neighborhood": "neighbourhood",
    "neighborhoods": "neighbourhoods",
    "area": "neighbourhood",
    "description": "notes",
    "stream": "streams",
    "optic": "optics",
    "lenses": "optics",
    "user": "username",
    "purposes": "purpose",
}


def _unknown_field(loc: Loc) -> str:
    key = loc[-1] if loc else ""
    model = _model_at(loc[:-1])
    if model is None:
        return f"unknown field '{key}'"
    allowed = list(model.model_fields)
    close = [_SYNONYMS[str(key)]] if _SYNONYMS.get(str(key)) in allowed else []
    close = close or difflib.get_close_matches(str(key), allowed, n=1)
    if close:
        return f"unknown field '{key}' (did you mean '{close[0]}'?)"
    return f"unknown field '{key}'; allowed here: {', '.join(allowed)}"


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The schema model that validates the mapping at ``loc``, for listing its fields."""
    current: Any = SiteSpec
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
            continue
        origin = typing.get_origin(current)
        args = typing.get_args(current)
        if origin is list and isinstance(part, int):
            current = args[0]
        elif origin is dict:
            current = args[1]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin is typing.Union or origin is types.UnionType:
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def _cross_checks(data: Mapping[str, Any], root: Any) -> Iterator[tuple[Loc, str]]:
    """Rules that span fields or entries; works on unchecked data, so every access is guarded."""
    credentials = data.get("credentials")
    credential_names = set(credentials) if isinstance(credentials, Mapping) else set()
    neighbourhoods = data.get("neighbourhoods")
    neighbourhood_ids: set[str] = set()
    first_line_n: dict[str, int] = {}
    if isinstance(neighbourhoods, list):
        for i, n in enumerate(neighbourhoods):
            nid = n.get("id") if isinstance(n, Mapping) else None
            if not isinstance(nid, str):
                continue
            if nid in first_line_n:
                first = _first_at(root, ("neighbourhoods", first_line_n[nid]))
                yield ("neighbourhoods", i, "id"), f"duplicate neighbourhood id '{nid}' ({first})"
            else:
                first_line_n[nid] = i
            neighbourhood_ids.add(nid)
    cameras = data.get("cameras")
    if not isinstance(cameras, list):
        return
    first_camera: dict[str, int] = {}
    for i, cam in enumerate(cameras):
        if not isinstance(cam, Mapping):
            continue
        here: Loc = ("cameras", i)
        cid = cam.get("id")
        if isinstance(cid, str):
            if cid in first_camera:
                first = _first_at(root, ("cameras", first_camera[cid]))
                yield (*here, "id"), f"duplicate camera id '{cid}' ({first})"
            else:
                first_camera[cid] = i
        hood = cam.get("neighbourhood")
        if isinstance(hood, str) and hood not in neighbourhood_ids:
            yield (*here, "neighbourhood"), _unknown_name("neighbourhood", hood, neighbourhood_ids)
        for loc, name in _credential_uses(cam, here):
            if name not in credential_names:
                yield loc, _unknown_name("credential", name, credential_names)
        yield from _check_optics(cam, here)
        yield from _check_transports(cam, here)


def _first_at(root: Any, loc: Loc) -> str:
    line, _ = _locate(root, loc)
    return f"first defined at line {line}" if line is not None else f"also {_format_loc(loc)}"


def _unknown_name(what: str, name: str, known: set[str]) -> str:
    if not known:
        return f"unknown {what} '{name}': no {what}s are defined in this file"
    listed = sorted(known)
    shown = ", ".join(listed[:12]) + (", ..." if len(listed) > 12 else "")
    return f"unknown {what} '{name}'; defined: {shown}"


def _stream_entries(cam: Mapping[str, Any], here: Loc) -> Iterator[tuple[Loc, Any]]:
    """Every stream value of a camera, plain string or mapping, with its location."""
    holders: list[tuple[Loc, Any]] = [((*here, "streams"), cam.get("streams"))]
    optics = cam.get("optics")
    if isinstance(optics, list):
        for j, optic in enumerate(optics):
            if isinstance(optic, Mapping):
                holders.append(((*here, "optics", j, "streams"), optic.get("streams")))
    for loc, streams in holders:
        if isinstance(streams, Mapping):
            for role in ("main", "sub"):
                if streams.get(role) is not None:
                    yield (*loc, role), streams[role]


def _credential_uses(cam: Mapping[str, Any], here: Loc) -> Iterator[tuple[Loc, str]]:
    if isinstance(cam.get("credential"), str):
        yield (*here, "credential"), cam["credential"]
    onvif = cam.get("onvif")
    if isinstance(onvif, Mapping) and isinstance(onvif.get("credential"), str):
        yield (*here, "onvif", "credential"), onvif["credential"]
    for loc, stream in _stream_entries(cam, here):
        if isinstance(stream, Mapping) and isinstance(stream.get("credential"), str):
            yield (*loc, "credential"), stream["credential"]


def _check_optics(cam: Mapping[str, Any], here: Loc) -> Iterator[tuple[Loc, str]]:
    raw_kind = cam.get("kind")
    if not isinstance(raw_kind, str) or raw_kind not in {k.value for k in CameraKind}:
        return  # reported as a field error
    kind = CameraKind(raw_kind)
    optics = cam.get("optics")
    has_onvif = cam.get("onvif") is not None
    has_streams = cam.get("streams") is not None
    composite = cam.get("composite") is True
    if kind.optic_count == 1:
        if optics is not None:
            yield (
                (*here, "optics"),
                f"'optics' is only for bi-optic and quad-optic cameras;"
                f" a {kind.value} camera lists its streams under 'streams'",
            )
        if composite:
            yield (*here, "composite"), "only bi-optic and quad-optic cameras can be composite"
        if not has_streams and not has_onvif:
            yield here, "the camera has neither 'streams' nor 'onvif': there is nothing to show"
        return
    count = kind.optic_count
    if isinstance(optics, list) and len(optics) != count:
        yield (
            (*here, "optics"),
            f"a {kind.value} camera has {count} optics, got {len(optics)}",
        )
    if composite:
        if not has_streams and not has_onvif:
            yield (
                here,
                "a composite camera needs the mosaic stream under 'streams' (or 'onvif')",
            )
        if isinstance(optics, list):
            for j, optic in enumerate(optics):
                if isinstance(optic, Mapping) and optic.get("streams") is not None:
                    yield (
                        (*here, "optics", j, "streams"),
                        "the optics of a composite camera share the camera's 'streams'",
                    )
        return
    if has_streams:
        yield (
            (*here, "streams"),
            f"a {kind.value} camera lists streams per optic under 'optics'"
            " (or set 'composite: true' if the device sends one mosaic stream)",
        )
    if optics is None:
        yield (
            here,
            f"a {kind.value} camera needs 'optics' with {count} entries, in housing order",
        )
    elif isinstance(optics, list) and not has_onvif:
        for j, optic in enumerate(optics):
            if isinstance(optic, Mapping) and optic.get("streams") is None:
                yield (
                    (*here, "optics", j),
                    "the optic has no 'streams' and the camera has no 'onvif':"
                    " there is nothing to show",
                )


def _check_transports(cam: Mapping[str, Any], here: Loc) -> Iterator[tuple[Loc, str]]:
    for loc, stream in _stream_entries(cam, here):
        if not isinstance(stream, Mapping) or stream.get("transport") != "udp":
            continue
        url = stream.get("url")
        if isinstance(url, str) and url_scheme(url) not in RTSP_SCHEMES:
            yield (*loc, "transport"), "'transport: udp' only applies to rtsp:// and rtsps:// URLs"


# --- building ---------------------------------------------------------------------------------


def _build(spec: SiteSpec, path: Path | None) -> Site:
    credentials = {
        name: CredentialRef(name=name, username=c.username, password=c.password)
        for name, c in spec.credentials.items()
    }
    cameras = tuple(_build_camera(c, credentials) for c in spec.cameras)
    neighbourhoods = tuple(
        Neighbourhood(id=n.id, name=n.name, outline=tuple((lat, lon) for lat, lon in n.outline))
        for n in spec.neighbourhoods
    )
    background = spec.map.background if spec.map is not None else None
    return Site(
        name=spec.name,
        cameras=cameras,
        neighbourhoods=neighbourhoods,
        credentials=tuple(credentials.values()),
        schema_version=spec.schema_version,
        path=path,
        map_background=None
        if background is None
        else MapBackground(
            kind=background.kind,
            path=background.path or "",
            url=background.url or "",
            attribution=background.attribution,
            bounds=background.bounds,
            cache=background.cache or "",
            max_zoom=background.max_zoom,
        ),
    )


def _build_camera(cam: CameraSpec, credentials: Mapping[str, CredentialRef]) -> Camera:
    default_cred = credentials[cam.credential] if cam.credential else None

    def streams(spec: StreamsSpec | None) -> tuple[Stream, ...]:
        if spec is None:
            return ()
        out = []
        for role, s in ((StreamRole.MAIN, spec.main), (StreamRole.SUB, spec.sub)):
            if s is None:
                continue
            scheme = url_scheme(s.url)
            transport = s.transport or (cam.transport if scheme in RTSP_SCHEMES else None)
            cred = credentials[s.credential] if s.credential else default_cred
            out.append(
                Stream(
                    role=role,
                    url=s.url,
                    credential=cred if scheme in NETWORK_SCHEMES else None,
                    transport=transport or "tcp",
                )
            )
        return tuple(out)

    if cam.kind.optic_count == 1:
        optics: tuple[Optic, ...] = (
            Optic(
                index=0,
                name=cam.name,
                streams=streams(cam.streams),
                heading=cam.heading,
                zoomable=cam.kind is CameraKind.PTZ_DOME,
            ),
        )
    elif cam.optics is not None:
        shared = streams(cam.streams) if cam.composite else ()
        optics = tuple(
            Optic(
                index=i,
                name=o.name,
                streams=shared or streams(o.streams),
                heading=o.heading,
                zoomable=o.zoomable,
                video_source=o.video_source,
            )
            for i, o in enumerate(cam.optics)
        )
    else:  # composite without an optics list
        shared = streams(cam.streams)
        optics = tuple(
            Optic(
                index=i,
                name=f"Optic {i + 1}",
                streams=shared,
                zoomable=cam.kind is CameraKind.QUAD_OPTIC,
            )
            for i in range(cam.kind.optic_count)
        )
    onvif = None
    if cam.onvif is not None:
        onvif = OnvifEndpoint(
            host=cam.onvif.host,
            port=cam.onvif.port,
            credential=credentials[cam.onvif.credential] if cam.onvif.credential else default_cred,
        )
    return Camera(
        id=cam.id,
        name=cam.name,
        neighbourhood=cam.neighbourhood,
        kind=cam.kind,
        location=cam.location,
        latitude=cam.lat,
        longitude=cam.lon,
        heading=cam.heading,
        fov=cam.fov,
        purpose=tuple(cam.purpose),
        optics=optics,
        onvif=onvif,
        composite=cam.composite,
        notes=cam.notes,
        map_xy=cam.map_xy,
    )

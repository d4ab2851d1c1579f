#!/usr/bin/env python3
"""Validate the demo catalogue of administrative procedures.

Usage:
    python3 scripts/services/check_procedures.py [path/to/procedures.json]

Checks (exit 1 on any failure):
  * the file is a JSON array of >= 45 procedures, >= 15 at commune level ("xa")
    and >= 15 at province level ("tinh");
  * codes match ^\\d\\.\\d{6}$ and are unique; code_verified is a boolean;
    unverified codes carry a code_note;
  * required keys and allowed enum values (level, online_level, fee_timing,
    time-limit unit, component form, field type, workflow role);
  * workflow shares are positive integers summing to 100; step ids unique;
  * every province-level agency name exists in crates/refdata/data/agencies-lang-son.json;
    commune-level agencies are {"kind": "ubnd_xa"};
  * fees are non-negative integers; 4-12 e-form fields with unique snake_case ASCII names;
    select fields have options; min/max and length bounds are consistent;
  * every string in the file is Unicode NFC.
Prints a summary by level and sector.
"""
import json
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "crates/services/data/procedures.json"
AGENCIES = ROOT / "crates/refdata/data/agencies-lang-son.json"

CODE_RE = re.compile(r"^\d\.\d{6}$")
SNAKE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
LEVELS = {"xa", "tinh"}
ONLINE = {"toan_trinh", "mot_phan"}
FEE_TIMING = {"on_accept", "on_submit"}
UNITS = {"working_days", "working_hours"}
FORMS = {"electronic", "original", "copy", "original_or_copy"}
FIELD_TYPES = {"text", "textarea", "date", "number", "select", "checkbox", "cccd", "mst",
               "phone", "email", "admin_unit"}
ROLES = {"one_stop_officer", "commune_officer", "specialist", "department_leader"}
REUSABLE = {None, "cccd", "ho_chieu", "giay_khai_sinh", "giay_dkkd", "giay_dkhkd",
            "giay_chung_nhan_qsdd", "van_bang"}
REQUIRED = ["code", "code_verified", "name", "sector", "level", "agency", "time_limit", "fees",
            "online_level", "result", "components", "eform", "workflow", "fee_timing",
            "legal_basis", "sources"]
OPTIONAL = {"code_note", "time_note"}
FIELD_KEYS = {"name", "label", "type", "required", "min_length", "max_length", "min", "max",
              "options", "help"}
COMPONENT_KEYS = {"id", "name", "form", "required", "reusable", "note"}


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def walk_strings(obj, path="$"):
    if isinstance(obj, str):
        yield path, obj
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from walk_strings(v, f"{path}[{i}]")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from walk_strings(k, f"{path}.<key>")
            yield from walk_strings(v, f"{path}.{k}")


def check(path):
    errors = []

    def err(where, msg):
        errors.append(f"{where}: {msg}")

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        print(f"FAIL: cannot read {path}: {e}")
        return 1
    try:
        agencies = json.loads(AGENCIES.read_text(encoding="utf-8"))
        agency_names = {a["name"] for a in agencies}
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"FAIL: cannot read agency list {AGENCIES}: {e}")
        return 1

    if not isinstance(data, list):
        print("FAIL: top level must be a JSON array")
        return 1

    for where, s in walk_strings(data):
        if unicodedata.normalize("NFC", s) != s:
            err(where, f"string is not NFC: {s[:60]!r}")

    codes = Counter()
    for i, p in enumerate(data):
        w = f"[{i}]"
        if not isinstance(p, dict):
            err(w, "procedure must be an object")
            continue
        w = f"[{i}] {p.get('code', '?')}"
        for k in REQUIRED:
            if k not in p:
                err(w, f"missing key {k!r}")
        for k in p:
            if k not in REQUIRED and k not in OPTIONAL:
                err(w, f"unknown key {k!r}")
        code = p.get("code")
        if not isinstance(code, str) or not CODE_RE.match(code):
            err(w, f"code {code!r} does not match ^\\d\\.\\d{{6}}$")
        codes[code] += 1
        if not isinstance(p.get("code_verified"), bool):
            err(w, "code_verified must be true or false")
        elif p["code_verified"] is False and not p.get("code_note"):
            err(w, "unverified code needs a code_note saying why")
        for k in ("name", "sector"):
            if not isinstance(p.get(k), str) or not p.get(k, "").strip():
                err(w, f"{k} must be a non-empty string")

        level = p.get("level")
        if level not in LEVELS:
            err(w, f"level {level!r} not in {sorted(LEVELS)}")
        agency = p.get("agency")
        if level == "xa":
            if agency != {"kind": "ubnd_xa"}:
                err(w, 'commune-level agency must be {"kind": "ubnd_xa"}')
        elif level == "tinh":
            if not isinstance(agency, dict) or set(agency) != {"name"}:
                err(w, 'province-level agency must be {"name": ...}')
            elif agency["name"] not in agency_names:
                err(w, f"agency {agency['name']!r} not in {AGENCIES.name}")

        tl = p.get("time_limit")
        if not isinstance(tl, dict) or tl.get("unit") not in UNITS or not is_int(tl.get("value")) \
                or tl.get("value", 0) < 0:
            err(w, f"bad time_limit {tl!r}")
        elif tl["unit"] == "working_hours" and tl["value"] == 0:
            err(w, "use {'unit':'working_hours','value':8} for 'trong ngày', not 0")

        fees = p.get("fees")
        if not isinstance(fees, list):
            err(w, "fees must be a list")
        else:
            for j, f in enumerate(fees):
                if not isinstance(f, dict) or set(f) != {"name", "amount_vnd", "note"}:
                    err(w, f"fees[{j}] must have exactly name, amount_vnd, note")
                    continue
                if not is_int(f["amount_vnd"]) or f["amount_vnd"] < 0:
                    err(w, f"fees[{j}].amount_vnd must be a non-negative integer")
                if not f["name"]:
                    err(w, f"fees[{j}].name empty")

        if p.get("online_level") not in ONLINE:
            err(w, f"online_level {p.get('online_level')!r} not in {sorted(ONLINE)}")
        if p.get("fee_timing") not in FEE_TIMING:
            err(w, f"fee_timing {p.get('fee_timing')!r} not in {sorted(FEE_TIMING)}")
        res = p.get("result")
        if not isinstance(res, dict) or not isinstance(res.get("name"), str) \
                or not isinstance(res.get("electronic"), bool):
            err(w, "result must be {name: str, electronic: bool}")

        comps = p.get("components")
        if not isinstance(comps, list) or not comps:
            err(w, "components must be a non-empty list")
        else:
            ids = Counter()
            for j, c in enumerate(comps):
                if not isinstance(c, dict) or set(c) != COMPONENT_KEYS:
                    err(w, f"components[{j}] keys must be {sorted(COMPONENT_KEYS)}")
                    continue
                ids[c["id"]] += 1
                if not isinstance(c["id"], str) or not SNAKE_RE.match(c["id"]):
                    err(w, f"components[{j}].id {c['id']!r} not snake_case ASCII")
                if c["form"] not in FORMS:
                    err(w, f"components[{j}].form {c['form']!r} unknown")
                if not isinstance(c["required"], bool):
                    err(w, f"components[{j}].required must be bool")
                if c["reusable"] not in REUSABLE:
                    err(w, f"components[{j}].reusable {c['reusable']!r} unknown")
            for k, n in ids.items():
                if n > 1:
                    err(w, f"duplicate component id {k!r}")

        ef = p.get("eform")
        if not isinstance(ef, list) or not 4 <= len(ef) <= 12:
            err(w, f"eform must have 4-12 fields (has {len(ef) if isinstance(ef, list) else '?'})")
        if isinstance(ef, list):
            names = Counter()
            for j, f in enumerate(ef):
                fw = f"{w} eform[{j}]"
                if not isinstance(f, dict) or set(f) != FIELD_KEYS:
                    err(fw, f"keys must be {sorted(FIELD_KEYS)}")
                    continue
                names[f["name"]] += 1
                if not isinstance(f["name"], str) or not SNAKE_RE.match(f["name"]):
                    err(fw, f"name {f['name']!r} not snake_case ASCII")
                if not f["label"]:
                    err(fw, "empty label")
                if f["type"] not in FIELD_TYPES:
                    err(fw, f"unknown field type {f['type']!r}")
                if not isinstance(f["required"], bool):
                    err(fw, "required must be bool")
                for a, b in (("min_length", "max_length"), ("min", "max")):
                    for k in (a, b):
                        if f[k] is not None and not isinstance(f[k], (int, float)):
                            err(fw, f"{k} must be a number or null")
                    if isinstance(f[a], (int, float)) and isinstance(f[b], (int, float)) and f[a] > f[b]:
                        err(fw, f"{a} > {b}")
                if f["type"] == "select":
                    opts = f["options"]
                    if not isinstance(opts, list) or not opts:
                        err(fw, "select needs options")
                    else:
                        vals = [o.get("value") for o in opts if isinstance(o, dict)]
                        if len(vals) != len(opts) or len(set(vals)) != len(vals) \
                                or not all(isinstance(o.get("label"), str) and o["label"] for o in opts):
                            err(fw, "options must be unique {value, label} objects")
                elif f["options"] is not None:
                    err(fw, "options only allowed for select")
                if f["type"] != "number" and (f["min"] is not None or f["max"] is not None):
                    err(fw, "min/max only allowed for number")
            for k, n in names.items():
                if n > 1:
                    err(w, f"duplicate eform field {k!r}")

        wf = p.get("workflow")
        if not isinstance(wf, list) or not wf:
            err(w, "workflow must be a non-empty list")
        else:
            total = 0
            steps = Counter()
            for j, s in enumerate(wf):
                if not isinstance(s, dict) or set(s) != {"step", "name", "role", "share_percent"}:
                    err(w, f"workflow[{j}] keys must be step, name, role, share_percent")
                    continue
                steps[s["step"]] += 1
                if s["role"] not in ROLES:
                    err(w, f"workflow[{j}].role {s['role']!r} unknown")
                if not is_int(s["share_percent"]) or s["share_percent"] <= 0:
                    err(w, f"workflow[{j}].share_percent must be a positive integer")
                else:
                    total += s["share_percent"]
                if level == "xa" and s["role"] == "specialist":
                    err(w, "commune workflows use commune_officer, not specialist")
            if total != 100:
                err(w, f"workflow shares sum to {total}, not 100")
            for k, n in steps.items():
                if n > 1:
                    err(w, f"duplicate workflow step {k!r}")

        for k in ("legal_basis", "sources"):
            v = p.get(k)
            if not isinstance(v, list) or not v or not all(isinstance(x, str) and x for x in v):
                err(w, f"{k} must be a non-empty list of strings")

    for c, n in codes.items():
        if n > 1:
            err("catalogue", f"duplicate code {c}")

    levels = Counter(p.get("level") for p in data if isinstance(p, dict))
    if len(data) < 45:
        err("catalogue", f"only {len(data)} procedures (need >= 45)")
    if levels["xa"] < 15:
        err("catalogue", f"only {levels['xa']} commune-level procedures (need >= 15)")
    if levels["tinh"] < 15:
        err("catalogue", f"only {levels['tinh']} province-level procedures (need >= 15)")

    # summary
    verified = sum(1 for p in data if isinstance(p, dict) and p.get("code_verified") is True)
    print(f"{len(data)} procedures: {levels['xa']} commune (xa), {levels['tinh']} province (tinh); "
          f"codes verified {verified}/{len(data)}")
    by = Counter((p.get("level"), p.get("sector")) for p in data if isinstance(p, dict))
    for (lvl, sector), n in sorted(by.items(), key=lambda x: (str(x[0][0]), str(x[0][1]))):
        print(f"  {lvl:4} {n:3}  {sector}")
    online = Counter(p.get("online_level") for p in data if isinstance(p, dict))
    print(f"online: {dict(online)}")
    unverified = [p.get("code") for p in data if isinstance(p, dict) and p.get("code_verified") is False]
    if unverified:
        print(f"unverified codes: {', '.join(unverified)}")

    if errors:
        print(f"\nFAIL: {len(errors)} problem(s)")
        for e in errors:
            print(f"  - {e}")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(check(sys.argv[1] if len(sys.argv) > 1 else DEFAULT))

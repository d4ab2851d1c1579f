#!/usr/bin/env python3
"""Generate the reference data embedded by the `tinhso-refdata` crate.

Reads the data bundled in two PyPI packages (pinned in requirements.txt):

* ``vietnam-provinces`` - official 2025 divisions (34 provinces, 3,321 communes) with the
  codes of Quyết định 19/2025/QĐ-TTg as published by the national statistics office
  (NSO, danhmuchanhchinh.nso.gov.vn), the pre-1 July 2025 divisions, and the official
  old→new ward conversion table (GSO "Bảng chuyển đổi ĐVHC mới - cũ").
* ``vietnamadminunits`` - coordinates of the 2025 units and of the legacy units, and its own
  legacy→2025 conversion (used here only as a cross-check).

and writes, under crates/refdata/data/:

  provinces.json, communes.json, lang-son-legacy.json, lang-son-conversion.json,
  conversion-all.json, agencies-lang-son.json, sources.json, ATTRIBUTION.md

Output is deterministic: sorted records, one JSON record per line, UTF-8, NFC, no timestamps.

Usage:
  pip install --ignore-requires-python -r scripts/refdata/requirements.txt   # Python 3.11
  python3 scripts/refdata/generate.py            # write the files
  python3 scripts/refdata/generate.py --check    # exit 1 if the files on disk are stale
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import json
import math
import re
import sqlite3
import sys
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

SCRIPT_DIR = Path(__file__).resolve().parent
REPO_ROOT = SCRIPT_DIR.parents[1]
DATA_DIR = REPO_ROOT / "crates" / "refdata" / "data"
REQUIREMENTS = SCRIPT_DIR / "requirements.txt"

LANG_SON = "20"
LANG_SON_WARDS = {"Tam Thanh", "Lương Văn Tri", "Kỳ Lừa", "Đông Kinh"}

# Coordinates are rounded to 5 decimals (~1 m): more than the sources' real precision,
# and it keeps diffs stable.
COORD_DECIMALS = 5

# Plausibility check of the vietnamadminunits coordinate of a 2025 unit against the mean
# of the coordinates of the legacy communes merged into it (see choose_coordinate()).
OVERRIDE_MIN_DISTANCE_KM = 20.0
OVERRIDE_MAX_SPREAD_KM = 10.0
DEGENERATE_SPREAD_KM = 0.5


class GenerationError(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise GenerationError(message)


# --------------------------------------------------------------------------- text helpers


def nfc(text: str) -> str:
    """NFC-normalise and collapse whitespace (the sources contain a few double spaces)."""
    return unicodedata.normalize("NFC", " ".join(text.split()))


# (canonical prefix, kind). Matching is case-insensitive: the source has e.g. "xã Bắc Sơn".
PREFIXES = {
    "province": [("Thành phố", "thanh_pho"), ("Tỉnh", "tinh")],
    "commune": [("Phường", "phuong"), ("Xã", "xa"), ("Đặc khu", "dac_khu")],
    "legacy_district": [
        ("Thành phố", "thanh_pho"),
        ("Thị xã", "thi_xa"),
        ("Quận", "quan"),
        ("Huyện", "huyen"),
    ],
    "legacy_commune": [("Phường", "phuong"), ("Thị trấn", "thi_tran"), ("Xã", "xa")],
}

# division_type strings of vietnam-provinces -> kind, to cross-check the name prefix.
DIVISION_KINDS = {
    "tỉnh": "tinh",
    "thành phố trung ương": "thanh_pho",
    "thành phố": "thanh_pho",
    "xã": "xa",
    "phường": "phuong",
    "đặc khu": "dac_khu",
    "huyện": "huyen",
    "quận": "quan",
    "thị xã": "thi_xa",
    "thị trấn": "thi_tran",
}

# Abbreviations in the official lists, expanded so that names carry full words.
NAME_EXPANSIONS = [(re.compile(r"^NT "), "Nông trường ")]


def split_name(full: str, level: str) -> tuple[str, str, str]:
    """Return (name, full_name, kind) from a full name such as "Phường Tam Thanh"."""
    full = nfc(full)
    for prefix, kind in PREFIXES[level]:
        head = full[: len(prefix) + 1]
        if head.casefold() == (prefix + " ").casefold():
            name = full[len(prefix) + 1 :].strip()
            for pattern, replacement in NAME_EXPANSIONS:
                name = pattern.sub(replacement, name)
            check(bool(name), f"empty name in {full!r}")
            return name, f"{prefix} {name}", kind
    raise GenerationError(f"unknown {level} prefix in {full!r}")


def division_kind(division_type: object) -> str:
    value = str(getattr(division_type, "value", division_type))
    check(value in DIVISION_KINDS, f"unknown division type {value!r}")
    return DIVISION_KINDS[value]


def round_coord(value: float | None) -> float | None:
    if value is None:
        return None
    return round(float(value), COORD_DECIMALS)


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))


# --------------------------------------------------------------------------- JSON output


def record_line(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def json_array(records: list[dict]) -> str:
    if not records:
        return "[]\n"
    return "[\n" + ",\n".join(record_line(r) for r in records) + "\n]\n"


def json_object_of_arrays(obj: dict[str, list[dict]]) -> str:
    parts = []
    for key, records in obj.items():
        body = ",\n".join(record_line(r) for r in records)
        parts.append(f"{json.dumps(key)}:[\n{body}\n]")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def assert_nfc(value: object, where: str) -> None:
    if isinstance(value, str):
        check(unicodedata.is_normalized("NFC", value), f"non-NFC string {value!r} in {where}")
    elif isinstance(value, dict):
        for k, v in value.items():
            assert_nfc(k, where)
            assert_nfc(v, where)
    elif isinstance(value, list):
        for v in value:
            assert_nfc(v, where)


# --------------------------------------------------------------------------- sources


def pinned_versions() -> dict[str, str]:
    pins = {}
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.strip()
    return pins


def check_versions(allow_mismatch: bool) -> dict[str, str]:
    pins = pinned_versions()
    found = {}
    for package in ("vietnam-provinces", "vietnamadminunits"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError as e:
            raise GenerationError(
                f"{package} is not installed; run: pip install --ignore-requires-python -r {REQUIREMENTS}"
            ) from e
        if found[package] != pins.get(package):
            msg = f"{package} {found[package]} installed, {pins.get(package)} pinned in {REQUIREMENTS.name}"
            if not allow_mismatch:
                raise GenerationError(msg + " (use --allow-version-mismatch to proceed anyway)")
            print(f"warning: {msg}", file=sys.stderr)
    return found


def package_dir(module: str) -> Path:
    """Directory of a package without executing its __init__ (vietnamadminunits pulls shapely)."""
    spec = importlib.util.find_spec(module)
    check(spec is not None and bool(spec.submodule_search_locations), f"cannot locate {module}")
    return Path(next(iter(spec.submodule_search_locations)))


class Sources:
    def __init__(self) -> None:
        try:
            import vietnam_provinces
            from vietnam_provinces import _ward_conversion_2025 as conversion
            from vietnam_provinces.legacy import _lookup as legacy
        except ImportError as e:
            raise GenerationError(
                f"vietnam-provinces lacks the data modules this generator reads ({e}); "
                f"install the version pinned in {REQUIREMENTS}"
            ) from e

        self.vp_version = vietnam_provinces.__version__
        self.vp_data_version = vietnam_provinces.__data_version__
        self.nested = json.loads(Path(vietnam_provinces.NESTED_DIVISIONS_JSON_PATH).read_text(encoding="utf-8"))
        self.old_to_new = conversion.OLD_TO_NEW
        self.conversion_source = conversion.SOURCE
        self.conversion_effective = conversion.EFFECTIVE_DATE
        self.legacy_provinces = legacy.PROVINCE_MAPPING
        self.legacy_districts = legacy.DISTRICT_MAPPING
        self.legacy_wards = legacy.WARD_MAPPING

        vau = package_dir("vietnamadminunits")
        db = sqlite3.connect(f"file:{vau / 'data' / 'dataset.db'}?mode=ro", uri=True)
        try:
            self.vau_new = {
                code: (lat, lon)
                for code, lat, lon in db.execute("SELECT wardCode, wardLat, wardLon FROM admin_units")
                if lat is not None and lon is not None
            }
            self.vau_new_keys = {
                (pkey, wkey): code
                for pkey, wkey, code in db.execute("SELECT provinceKey, wardKey, wardCode FROM admin_units")
            }
            self.vau_province = {
                code: (lat, lon)
                for code, lat, lon in db.execute(
                    "SELECT DISTINCT provinceCode, provinceLat, provinceLon FROM admin_units"
                )
            }
            self.vau_legacy = {
                code: (lat, lon)
                for code, lat, lon in db.execute(
                    "SELECT wardCode, wardLat, wardLon FROM admin_units_legacy WHERE wardCode IS NOT NULL"
                )
                if lat is not None and lon is not None
            }
            self.vau_legacy_keys = {
                f"{p}_{d}_{w}": code
                for p, d, w, code in db.execute(
                    "SELECT provinceKey, districtKey, wardKey, wardCode FROM admin_units_legacy "
                    "WHERE wardCode IS NOT NULL"
                )
            }
        finally:
            db.close()
        self.vau_converter = json.loads((vau / "data" / "converter_2025.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- divisions


def build_provinces(src: Sources) -> list[dict]:
    out = []
    for p in src.nested:
        code = f"{int(p['code']):02d}"
        name, full_name, kind = split_name(p["name"], "province")
        check(kind == division_kind(p["division_type"]), f"province {code}: prefix/type mismatch")
        lat, lng = src.vau_province.get(code, (None, None))
        out.append(
            {
                "code": code,
                "name": name,
                "full_name": full_name,
                "kind": kind,
                "lat": round_coord(lat),
                "lng": round_coord(lng),
            }
        )
    out.sort(key=lambda r: r["code"])
    check(len(out) == 34, f"expected 34 provinces, got {len(out)}")
    check(len({r["code"] for r in out}) == len(out), "duplicate province codes")
    return out


def legacy_centroids(src: Sources) -> dict[str, dict]:
    """Mean coordinate of the legacy communes merged (wholly or partly) into each 2025 unit."""
    members: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for old_code, entry in src.old_to_new.items():
        point = src.vau_legacy.get(f"{old_code:05d}")
        if point is None:
            continue
        for new in entry.new_wards:
            members[f"{new.code:05d}"].append(point)
    out = {}
    for code, points in members.items():
        centre = (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))
        spread = max(distance_km(centre, p) for p in points)
        out[code] = {"centre": centre, "n": len(points), "spread_km": spread}
    return out


def choose_coordinate(code: str, src: Sources, centroids: dict[str, dict], report: dict) -> tuple:
    """Coordinate of a 2025 unit.

    1. vietnamadminunits' coordinate of the unit, unless it is implausible: more than
       OVERRIDE_MIN_DISTANCE_KM from the centroid of its legacy communes while those
       communes are mutually consistent (>= 2 distinct points within OVERRIDE_MAX_SPREAD_KM
       of their centroid). That catches units whose coordinate was attached by name to a
       namesake elsewhere (e.g. Xã Hoàng Văn Thụ, Lạng Sơn got the old city ward's point).
       Then the centroid is used instead.
    2. No package coordinate: the centroid of the legacy communes.
    3. Neither: null.
    """
    pkg = src.vau_new.get(code)
    cen = centroids.get(code)
    if pkg is not None:
        if cen is not None:
            d = distance_km(pkg, cen["centre"])
            consistent = cen["n"] >= 2 and DEGENERATE_SPREAD_KM < cen["spread_km"] <= OVERRIDE_MAX_SPREAD_KM
            if d > OVERRIDE_MIN_DISTANCE_KM and consistent:
                report["overridden"].append(
                    {
                        "code": code,
                        "package": [round_coord(pkg[0]), round_coord(pkg[1])],
                        "centroid": [round_coord(cen["centre"][0]), round_coord(cen["centre"][1])],
                        "distance_km": round(d, 1),
                    }
                )
                return cen["centre"], "legacy_centroid"
        return pkg, "vietnamadminunits"
    if cen is not None:
        report["centroid_only"].append(code)
        return cen["centre"], "legacy_centroid"
    report["missing"].append(code)
    return (None, None), None


def build_communes(src: Sources) -> tuple[list[dict], dict]:
    centroids = legacy_centroids(src)
    report: dict = {"overridden": [], "centroid_only": [], "missing": []}
    sources_count: Counter = Counter()
    out = []
    for p in src.nested:
        province_code = f"{int(p['code']):02d}"
        for w in p["wards"]:
            code = f"{int(w['code']):05d}"
            name, full_name, kind = split_name(w["name"], "commune")
            check(kind == division_kind(w["division_type"]), f"commune {code}: prefix/type mismatch")
            (lat, lng), coord_source = choose_coordinate(code, src, centroids, report)
            sources_count[coord_source] += 1
            out.append(
                {
                    "code": code,
                    "name": name,
                    "full_name": full_name,
                    "kind": kind,
                    "province_code": province_code,
                    "lat": round_coord(lat),
                    "lng": round_coord(lng),
                }
            )
    out.sort(key=lambda r: r["code"])
    check(len({r["code"] for r in out}) == len(out), "duplicate commune codes")
    report["by_source"] = {str(k): v for k, v in sorted(sources_count.items(), key=lambda kv: str(kv[0]))}
    names = {r["code"]: r["full_name"] for r in out}
    for item in report["overridden"]:
        item["full_name"] = names[item["code"]]

    lang_son = [r for r in out if r["province_code"] == LANG_SON]
    kinds = Counter(r["kind"] for r in lang_son)
    check(len(lang_son) == 65, f"Lạng Sơn must have 65 communes after 2025-07-01, got {len(lang_son)}")
    check(kinds == Counter({"xa": 61, "phuong": 4}), f"Lạng Sơn must have 61 xã + 4 phường, got {dict(kinds)}")
    wards = {r["name"] for r in lang_son if r["kind"] == "phuong"}
    check(wards == LANG_SON_WARDS, f"Lạng Sơn phường must be {sorted(LANG_SON_WARDS)}, got {sorted(wards)}")
    return out, report


def build_lang_son_legacy(src: Sources) -> dict[str, list[dict]]:
    districts = []
    for code, d in src.legacy_districts.items():
        if int(d.province_code) != int(LANG_SON):
            continue
        name, full_name, kind = split_name(d.name, "legacy_district")
        check(kind == division_kind(d.division_type), f"district {code}: prefix/type mismatch")
        districts.append({"code": f"{int(code):03d}", "name": name, "full_name": full_name, "kind": kind})
    districts.sort(key=lambda r: r["code"])
    check(len(districts) == 11, f"Lạng Sơn had 11 district-level units before 2025-07-01, got {len(districts)}")
    district_codes = {int(r["code"]) for r in districts}

    communes = []
    for code, w in src.legacy_wards.items():
        if int(w.district_code) not in district_codes:
            continue
        code5 = f"{int(code):05d}"
        name, full_name, kind = split_name(w.name, "legacy_commune")
        check(kind == division_kind(w.division_type), f"legacy commune {code5}: prefix/type mismatch")
        lat, lng = src.vau_legacy.get(code5, (None, None))
        communes.append(
            {
                "code": code5,
                "name": name,
                "full_name": full_name,
                "kind": kind,
                "district_code": f"{int(w.district_code):03d}",
                "lat": round_coord(lat),
                "lng": round_coord(lng),
            }
        )
    communes.sort(key=lambda r: r["code"])
    check(len({r["code"] for r in communes}) == len(communes), "duplicate legacy commune codes")
    check(150 <= len(communes) <= 250, f"implausible number of legacy Lạng Sơn communes: {len(communes)}")
    return {"districts": districts, "communes": communes}


# --------------------------------------------------------------------------- conversion


def conversion_rows(src: Sources, province: str | None) -> list[dict]:
    rows = []
    for old_code, entry in src.old_to_new.items():
        old = entry.old_ward
        if province is not None and f"{int(old.province_code):02d}" != province:
            continue
        check(len(entry.new_wards) >= 1, f"old ward {old_code} has no target")
        for new in entry.new_wards:
            row = {
                "old_code": f"{int(old_code):05d}",
                "new_code": f"{int(new.code):05d}",
                "whole": not old.is_partly_merged,
            }
            if province is None:
                row["old_district_code"] = f"{int(old.district_code):03d}"
                row["old_province_code"] = f"{int(old.province_code):02d}"
                row["new_province_code"] = f"{int(new.province_code):02d}"
            rows.append(row)
    rows.sort(key=lambda r: (r["old_code"], r["new_code"]))
    check(len({(r["old_code"], r["new_code"]) for r in rows}) == len(rows), "duplicate conversion rows")
    return rows


def build_lang_son_conversion(src: Sources, legacy: dict, communes: list[dict]) -> list[dict]:
    rows = conversion_rows(src, LANG_SON)
    new_ls = {r["code"] for r in communes if r["province_code"] == LANG_SON}
    old_ls = {r["code"] for r in legacy["communes"]}
    targets_by_old: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        targets_by_old[r["old_code"]].append(r)
    missing_old = sorted(old_ls - set(targets_by_old))
    check(not missing_old, f"legacy Lạng Sơn communes without a 2025 unit: {missing_old}")
    extra_old = sorted(set(targets_by_old) - old_ls)
    check(not extra_old, f"conversion rows for communes missing from the legacy list: {extra_old}")
    outside = sorted({r["new_code"] for r in rows} - new_ls)
    check(not outside, f"Lạng Sơn legacy communes mapped outside Lạng Sơn: {outside}")
    untargeted = sorted(new_ls - {r["new_code"] for r in rows})
    check(not untargeted, f"2025 Lạng Sơn units that no legacy commune maps to: {untargeted}")
    for old, targets in targets_by_old.items():
        whole = {t["whole"] for t in targets}
        check(len(whole) == 1, f"inconsistent whole flag for {old}")
        if whole == {True}:
            check(len(targets) == 1, f"{old} merged whole into several units")
        else:
            check(len(targets) >= 2, f"{old} split but has a single target")
    return rows


def crosscheck_lang_son_conversion(src: Sources, rows: list[dict]) -> list[dict]:
    """Compare with vietnamadminunits' own conversion (keyed by unaccented names)."""
    conv = src.vau_converter
    pkey = "tinhlangson"
    pairs: dict[str, set[str]] = defaultdict(set)
    whole: dict[str, bool] = {}
    for new_key, old_keys in conv["DICT_PROVINCE_WARD_NO_DIVIDED"].get(pkey, {}).items():
        new_code = src.vau_new_keys[(pkey, new_key)]
        for old_key in old_keys:
            old_code = src.vau_legacy_keys[old_key]
            pairs[old_code].add(new_code)
            whole[old_code] = True
    for old_key, targets in conv["DICT_PROVINCE_WARD_DIVIDED"].get(pkey, {}).items():
        old_code = src.vau_legacy_keys[old_key]
        for t in targets:
            pairs[old_code].add(src.vau_new_keys[(pkey, t["newWardKey"])])
        whole[old_code] = False
    ours: dict[str, set[str]] = defaultdict(set)
    ours_whole: dict[str, bool] = {}
    for r in rows:
        ours[r["old_code"]].add(r["new_code"])
        ours_whole[r["old_code"]] = r["whole"]
    diffs = []
    for old in sorted(set(ours) | set(pairs)):
        if ours.get(old) != pairs.get(old) or ours_whole.get(old) != whole.get(old):
            diffs.append(
                {
                    "old_code": old,
                    "official": {"new_codes": sorted(ours.get(old, ())), "whole": ours_whole.get(old)},
                    "vietnamadminunits": {"new_codes": sorted(pairs.get(old, ())), "whole": whole.get(old)},
                }
            )
    return diffs


# --------------------------------------------------------------------------- agencies
#
# Hand-curated organisation tree of Lạng Sơn after the 2025 reforms. Codes follow the
# QCVN 102:2016/BTTTT identifier structure  L4.L3.L2.L1  (3.2.2.3 characters, dot separated):
#   L1  level-1 unit: one letter + 2 digits; UBND tỉnh Lạng Sơn = H37
#   L2  2 digits: unit directly under the level-1 unit (00 = the level-1 unit itself)
#   L3  2 digits: unit under a level-2 unit
#   L4  3 digits: unit under a level-3 unit
# Only the level-1 code of UBND tỉnh Lạng Sơn (000.00.00.H37) is a published code. Everything
# else is generated here ("code_source": "generated") and must be replaced by the codes the
# province publishes (Quyết định UBND tỉnh ban hành mã định danh) once they are known.
# Central agencies stationed in Lạng Sơn belong to their ministries' G-coded trees, whose
# codes are not known here; they get the placeholder level-1 code Z37 (the letter Z is not
# used by QCVN 102:2016 level-1 groups) so they can never collide with a real code.

PROVINCE_L1 = "H37"
CENTRAL_L1 = "Z37"
CODE_RE = re.compile(r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$")

# (L2, name, short_name, kind, roles)
PROVINCIAL_AGENCIES = [
    (1, "Văn phòng Ủy ban nhân dân tỉnh", "VP UBND tỉnh", "so", []),
    (2, "Sở Nội vụ", "Sở NV", "so", []),
    (3, "Sở Tài chính", "Sở TC", "so", []),
    (4, "Sở Xây dựng", "Sở XD", "so", []),
    (5, "Sở Nông nghiệp và Môi trường", "Sở NN&MT", "so", []),
    (6, "Sở Khoa học và Công nghệ", "Sở KH&CN", "so", ["digital_transformation_lead"]),
    (7, "Sở Công Thương", "Sở CT", "so", []),
    (8, "Sở Văn hóa, Thể thao và Du lịch", "Sở VHTTDL", "so", []),
    (9, "Sở Y tế", "Sở YT", "so", []),
    (10, "Sở Giáo dục và Đào tạo", "Sở GD&ĐT", "so", []),
    (11, "Sở Tư pháp", "Sở TP", "so", []),
    (12, "Sở Dân tộc và Tôn giáo", "Sở DT&TG", "so", []),
    (13, "Sở Ngoại vụ", "Sở NgV", "so", []),
    (14, "Thanh tra tỉnh", "TTr tỉnh", "so", []),
    (
        15,
        "Ban Quản lý Khu kinh tế cửa khẩu Đồng Đăng - Lạng Sơn",
        "BQL KKTCK Đồng Đăng - Lạng Sơn",
        "ban",
        ["border_economic_zone"],
    ),
    (16, "Trung tâm Phục vụ hành chính công tỉnh Lạng Sơn", "TTPVHCC tỉnh", "trung_tam", ["public_service_center"]),
]

# Units below a provincial agency: (parent L2, L3, name, short_name, kind, roles)
PROVINCIAL_SUBUNITS = [
    (9, 1, "Trung tâm Kiểm soát bệnh tật tỉnh Lạng Sơn", "CDC Lạng Sơn", "trung_tam", ["health_quarantine"]),
]

FIRST_COMMUNE_L2 = 21  # UBND xã/phường: 000.00.21.H37 ... 000.00.85.H37, in commune-code order

# Central agencies: (L2, L3, name, short_name, roles, location) where location is
# "province" or the *legacy* commune code of the border gate (resolved to the 2025 unit
# through the official conversion table, so the mapping stays checked).
LEGACY_DONG_DANG = "06184"  # Thị trấn Đồng Đăng (Hữu Nghị road gate, Đồng Đăng railway station)
LEGACY_TAN_THANH = "06166"  # Xã Tân Thanh, Văn Lãng (Tân Thanh gate)
LEGACY_TAN_MY = "06172"  # Xã Tân Mỹ, Văn Lãng (Cốc Nam gate)
LEGACY_YEN_KHOAI = "06541"  # Xã Yên Khoái, Lộc Bình (Chi Ma gate)
CENTRAL_AGENCIES = [
    (1, 0, "Chi cục Hải quan khu vực VI", "HQ KV VI", ["customs"], "province"),
    (1, 1, "Hải quan cửa khẩu quốc tế Hữu Nghị", "HQ CKQT Hữu Nghị", ["customs", "border_gate"], LEGACY_DONG_DANG),
    (1, 2, "Hải quan cửa khẩu Tân Thanh", "HQ CK Tân Thanh", ["customs", "border_gate"], LEGACY_TAN_THANH),
    (1, 3, "Hải quan cửa khẩu Chi Ma", "HQ CK Chi Ma", ["customs", "border_gate"], LEGACY_YEN_KHOAI),
    (1, 4, "Hải quan cửa khẩu Cốc Nam", "HQ CK Cốc Nam", ["customs", "border_gate"], LEGACY_TAN_MY),
    (
        1,
        5,
        "Hải quan cửa khẩu Ga đường sắt quốc tế Đồng Đăng",
        "HQ CK Ga ĐSQT Đồng Đăng",
        ["customs", "border_gate"],
        LEGACY_DONG_DANG,
    ),
    (2, 0, "Bộ đội Biên phòng tỉnh Lạng Sơn", "BĐBP Lạng Sơn", ["border_guard"], "province"),
    (
        2,
        1,
        "Đồn Biên phòng cửa khẩu quốc tế Hữu Nghị",
        "ĐBP CKQT Hữu Nghị",
        ["border_guard", "border_gate"],
        LEGACY_DONG_DANG,
    ),
    (2, 2, "Đồn Biên phòng cửa khẩu Tân Thanh", "ĐBP CK Tân Thanh", ["border_guard", "border_gate"], LEGACY_TAN_THANH),
    (2, 3, "Đồn Biên phòng cửa khẩu Chi Ma", "ĐBP CK Chi Ma", ["border_guard", "border_gate"], LEGACY_YEN_KHOAI),
    (3, 0, "Chi cục Kiểm dịch thực vật vùng VII", "KDTV vùng VII", ["plant_quarantine"], "province"),
    (4, 0, "Chi cục Kiểm dịch động vật vùng Lạng Sơn", "KDĐV vùng Lạng Sơn", ["animal_quarantine"], "province"),
]


def agency_code(l1: str, l2: int = 0, l3: int = 0, l4: int = 0) -> str:
    check(0 <= l2 <= 99 and 0 <= l3 <= 99 and 0 <= l4 <= 999, f"agency code level out of range: {l2}.{l3}.{l4}")
    return f"{l4:03d}.{l3:02d}.{l2:02d}.{l1}"


def agency(code, name, short_name, kind, parent, admin_unit, source, roles=None) -> dict:
    record = {
        "code": code,
        "name": name,
        "short_name": short_name,
        "kind": kind,
        "parent_code": parent,
        "admin_unit_code": admin_unit,
        "code_source": source,
    }
    if roles:
        record["roles"] = list(roles)
    return record


def build_agencies(communes: list[dict], conversion: list[dict]) -> list[dict]:
    root = agency_code(PROVINCE_L1)
    out = [
        agency(root, "Ủy ban nhân dân tỉnh Lạng Sơn", "UBND tỉnh Lạng Sơn", "ubnd_tinh", None, LANG_SON, "published")
    ]
    for l2, name, short, kind, roles in PROVINCIAL_AGENCIES:
        check(l2 < FIRST_COMMUNE_L2, "provincial agency L2 overlaps the commune range")
        out.append(agency(agency_code(PROVINCE_L1, l2), name, short, kind, root, LANG_SON, "generated", roles))
    for parent_l2, l3, name, short, kind, roles in PROVINCIAL_SUBUNITS:
        out.append(
            agency(
                agency_code(PROVINCE_L1, parent_l2, l3),
                name,
                short,
                kind,
                agency_code(PROVINCE_L1, parent_l2),
                LANG_SON,
                "generated",
                roles,
            )
        )
    lang_son = sorted((c for c in communes if c["province_code"] == LANG_SON), key=lambda c: c["code"])
    for i, c in enumerate(lang_son):
        level = {"xa": "xã", "phuong": "phường", "dac_khu": "đặc khu"}[c["kind"]]
        out.append(
            agency(
                agency_code(PROVINCE_L1, FIRST_COMMUNE_L2 + i),
                f"Ủy ban nhân dân {level} {c['name']}",
                f"UBND {level} {c['name']}",
                "ubnd_xa",
                root,
                c["code"],
                "generated",
            )
        )

    new_of_old: dict[str, set[str]] = defaultdict(set)
    for r in conversion:
        new_of_old[r["old_code"]].add(r["new_code"])
    for l2, l3, name, short, roles, location in CENTRAL_AGENCIES:
        if location == "province":
            admin_unit = LANG_SON
        else:
            targets = new_of_old.get(location, set())
            check(len(targets) == 1, f"{name}: legacy commune {location} does not map to exactly one unit")
            admin_unit = next(iter(targets))
        parent = None if l3 == 0 else agency_code(CENTRAL_L1, l2)
        out.append(
            agency(agency_code(CENTRAL_L1, l2, l3), name, short, "trung_uong", parent, admin_unit, "generated", roles)
        )

    def sort_key(r: dict) -> tuple:
        l4, l3, l2, l1 = r["code"].split(".")
        return (l1[0] != "H", l1, int(l2), int(l3), int(l4))

    out.sort(key=sort_key)
    codes = [r["code"] for r in out]
    check(len(set(codes)) == len(codes), f"duplicate agency codes: {[c for c, n in Counter(codes).items() if n > 1]}")
    check(all(CODE_RE.match(c) for c in codes), "agency code not in QCVN 102:2016 shape")
    known = set(codes)
    check(all(r["parent_code"] is None or r["parent_code"] in known for r in out), "dangling parent_code")
    commune_codes = {c["code"] for c in lang_son}
    ubnd_xa = [r for r in out if r["kind"] == "ubnd_xa"]
    check(len(ubnd_xa) == 65 and {r["admin_unit_code"] for r in ubnd_xa} == commune_codes, "UBND xã set mismatch")
    check(
        all(r["admin_unit_code"] in commune_codes | {LANG_SON} for r in out),
        "agency located outside Lạng Sơn",
    )
    check(sum(1 for r in out if r["parent_code"] is None and r["kind"] == "ubnd_tinh") == 1, "need exactly one root")
    return out


# --------------------------------------------------------------------------- attribution


ATTRIBUTION_TEMPLATE = """\
# Reference data: sources, licences, regeneration

<!-- Generated by scripts/refdata/generate.py. Edit the template in that script, not this file. -->

The files in this directory are generated by `scripts/refdata/generate.py` from data bundled in
two PyPI packages, plus a hand-curated agency list kept in the script itself. Do not edit the
JSON files by hand.

## Regenerate

```sh
# CPython 3.11 (project machines): vietnam-provinces {vp_version} declares Requires-Python >=3.12,
# but the data modules the generator reads import fine on 3.11.
pip install --ignore-requires-python -r scripts/refdata/requirements.txt && python3 scripts/refdata/generate.py
# Python >= 3.12:
pip install -r scripts/refdata/requirements.txt && python3 scripts/refdata/generate.py
# Verify that the committed files are up to date (exit 1 otherwise):
python3 scripts/refdata/generate.py --check
```

The generator refuses to run with package versions other than those pinned in
`scripts/refdata/requirements.txt` (override: `--allow-version-mismatch`). Output is
deterministic: records sorted by code, one JSON record per line, UTF-8, NFC, no timestamps.
`sources.json` records the versions used and the generation statistics.

## Sources and licences

| Package | Version | Licence | Used for |
| --- | --- | --- | --- |
| [vietnam-provinces](https://pypi.org/project/vietnam-provinces/) (Nguyễn Hồng Quân) | {vp_version} (data {vp_data_version}) | GPL-3.0-or-later | 2025 provinces and communes (names, codes, kinds); pre-2025 Lạng Sơn districts and communes; official old→new ward conversion |
| [vietnamadminunits](https://pypi.org/project/vietnamadminunits/) (Tran Ngoc Minh Hieu) | {vau_version} | MIT | Coordinates of provinces, 2025 communes and legacy communes; cross-check of the conversion |

Upstream of both packages are official, public government data:

* Names and codes of the 2025 units: *Bảng danh mục và mã số các đơn vị hành chính Việt Nam*
  (Quyết định 19/2025/QĐ-TTg), as published by the national statistics office
  (danhmuchanhchinh.nso.gov.vn). vietnam-provinces releases before 2026.1 carried the codes of the
  *draft* list, which differ for 122 communes (5 in Lạng Sơn: Quốc Khánh, Na Sầm, Ba Sơn, Cao Lộc,
  Thiện Tân) - hence the pin to {vp_version}.
* Conversion table: {conversion_source} (GSO), effective {conversion_effective}.
* Coordinates: vietnamadminunits took the 2025 unit centres from sapnhap.bando.com.vn and geocoded
  the legacy units; they are approximate centres, not official survey points.

Licences. The project is AGPL-3.0-or-later; GPL-3.0-or-later material may be combined with it
(GPLv3 section 13). What is taken from vietnam-provinces is factual data (names, codes, type and
parent of each unit, the official conversion table) copied from public legal documents, which are
not protected by copyright in Vietnam (Luật Sở hữu trí tuệ, Điều 15); no code of the package is
included. vietnamadminunits is MIT-licensed; its notice:

> MIT License. Copyright (c) 2025 Tran Ngoc Minh Hieu. Permission is hereby granted, free of
> charge, to any person obtaining a copy of this software and associated documentation files (the
> "Software"), to deal in the Software without restriction, including without limitation the
> rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the
> Software, and to permit persons to whom the Software is furnished to do so, subject to the
> following conditions: The above copyright notice and this permission notice shall be included
> in all copies or substantial portions of the Software. THE SOFTWARE IS PROVIDED "AS IS",
> WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
> MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
> AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN
> ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR
> THE USE OR OTHER DEALINGS IN THE SOFTWARE.

## Files

| File | Records | Shape |
| --- | --- | --- |
| `provinces.json` | {n_provinces} | `{{"code","name","full_name","kind":"tinh"\\|"thanh_pho","lat","lng"}}` |
| `communes.json` | {n_communes} | `{{"code","name","full_name","kind":"xa"\\|"phuong"\\|"dac_khu","province_code","lat","lng"}}` |
| `lang-son-legacy.json` | {n_legacy_districts} districts, {n_legacy_communes} communes | `{{"districts":[{{"code","name","full_name","kind"}}],"communes":[{{"code","name","full_name","kind","district_code","lat","lng"}}]}}` |
| `lang-son-conversion.json` | {n_ls_conversion} | `{{"old_code","new_code","whole"}}` |
| `conversion-all.json` | {n_all_conversion} | `{{"old_code","new_code","whole","old_district_code","old_province_code","new_province_code"}}` |
| `agencies-lang-son.json` | {n_agencies} | `{{"code","name","short_name","kind","parent_code","admin_unit_code","code_source","roles"?}}` |
| `sources.json` | - | package versions and generation statistics |

Names are NFC with full diacritics, whitespace collapsed, type prefix split off (`name`) and
normalised (`full_name`, e.g. the source's "xã Bắc Sơn" becomes "Xã Bắc Sơn"); the abbreviation
"NT" is expanded ("Thị trấn Nông trường Thái Bình"). Spelling is otherwise the official one,
including old-style tone placement where the official list uses it ("Hoà", "Thuỷ") and the
typographic apostrophe in names such as "Ea H’Leo". Lạng Sơn has 65 units after 1 July 2025:
61 xã + 4 phường (Tam Thanh, Lương Văn Tri, Kỳ Lừa, Đông Kinh); the generator fails otherwise.

### Coordinates

`lat`/`lng` are WGS84 decimal degrees rounded to {coord_decimals} decimals, or null.

* 2025 communes: the vietnamadminunits coordinate of the unit ({n_coord_pkg} units), except
  where it is implausible - more than {override_km:g} km from the mean of the coordinates of the
  legacy communes merged into the unit while those communes agree with each other (at least two
  distinct points within {spread_km:g} km of their mean). There the mean of the legacy communes
  is used instead ({n_coord_override} units, listed below; typically a coordinate attached by name
  to a namesake elsewhere). The same mean would be used for a unit without a package coordinate
  ({n_coord_centroid_only} such units). Null: {n_coord_null}.
* Provinces: centre from vietnamadminunits (null: {n_province_null}).
* Legacy Lạng Sơn communes: vietnamadminunits' geocoded point (null: {n_legacy_null};
  {n_legacy_shared} communes share their point with another commune: the geocoder resolved a
  namesake or fell back to a coarser place, e.g. the two Xã Mẫu Sơn of Cao Lộc and Lộc Bình).

Communes whose package coordinate was replaced by the legacy centroid:

{override_table}

### Conversion

Rows come from the official GSO conversion table shipped in vietnam-provinces. `whole` is false
when GSO marks the old commune "Nhập một phần" (merged partly); such a commune normally has one
row per receiving unit. In Lạng Sơn {n_ls_split} old communes were split (Bính Xá, Kiên Mộc) and
the generator asserts: every legacy commune maps to at least one 2025 Lạng Sơn unit, every 2025
Lạng Sơn unit receives at least one legacy commune, a whole commune has exactly one target and a
split one at least two. Nationally ({n_all_old} old communes): GSO lists only one receiving
unit for {n_all_partial_single} communes it marks as partly merged, so consumers must not assume
that `whole=false` implies several rows; {n_legacy_without_row} codes of the package's legacy list
have no row in the table (the two disagree on a few units renamed, renumbered or dissolved around
the 2024-2025 reorganisations, outside Lạng Sơn); the island districts without communes (Bạch Long
Vĩ, Cồn Cỏ, Hoàng Sa, Lý Sơn, Côn Đảo) have no rows, so their 2025 đặc khu are targets of none.

Cross-check against vietnamadminunits' own Lạng Sơn conversion: {crosscheck_summary}

### Agencies (`agencies-lang-son.json`)

Hand-curated in the script: UBND tỉnh Lạng Sơn (root), its specialised agencies after the
1 March 2025 mergers (Nghị quyết 04/NQ-HĐND of 18 February 2025: Sở Tài chính = Tài chính + Kế
hoạch và Đầu tư; Sở Xây dựng = Xây dựng + Giao thông vận tải; Sở Nông nghiệp và Môi trường = Nông
nghiệp và PTNT + Tài nguyên và Môi trường; Sở Khoa học và Công nghệ = Khoa học và Công nghệ +
Thông tin và Truyền thông, and lead of digital transformation; Sở Nội vụ = Nội vụ + Lao động -
Thương binh và Xã hội; Sở Dân tộc và Tôn giáo from Ban Dân tộc), the Ban Quản lý Khu kinh tế cửa
khẩu Đồng Đăng - Lạng Sơn, the Trung tâm Phục vụ hành chính công tỉnh, the provincial CDC (which
performs health quarantine at the border gates), one UBND per 2025 commune (generated from
`communes.json`, `admin_unit_code` = commune code), and the central agencies at the border gates
(customs under Chi cục Hải quan khu vực VI, the provincial Border Guard and its gate posts, plant
and animal quarantine). `admin_unit_code` of a gate unit is the 2025 commune of the gate, derived
from the legacy commune through the conversion table.

Identifier structure, QCVN 102:2016/BTTTT (Thông tư 10/2016/TT-BTTTT, amended by Thông tư
01/2022/TT-BTTTT): `L4.L3.L2.L1` - L1 is the level-1 unit (one letter + 2 digits; `H` + 2 digits
for the People's Committees of provinces), L2 (2 digits) a unit directly under it, L3 (2 digits)
a unit under that, L4 (3 digits) a unit under that; zeros mean "the unit itself". So
`000.00.00.H37` is UBND tỉnh Lạng Sơn and `000.00.06.H37` a unit directly under it.

* Published: `000.00.00.H37` (UBND tỉnh Lạng Sơn, level-1 code H37 of the QCVN 102:2016 list).
  Not seen in the official text itself; corroborated by (a) H37 used as Lạng Sơn's code by a
  Lạng Sơn e-office / LGSP integration project, (b) the level-1 list being alphabetical, with
  H29 = Hồ Chí Minh and H38 = Lào Cai visible in public procedure codes
  (e.g. 1.011441.000.00.00.H38 on dichvucong.laocai.gov.vn), which puts Lạng Sơn at H37.
* Generated (`"code_source":"generated"`): every other code. No published list of the codes of
  Lạng Sơn's departments or of its 65 new communes was found. Scheme: provincial agencies
  `000.00.01.H37`-`000.00.16.H37` in the order of the script, units under them `000.LL.NN.H37`,
  UBND xã/phường `000.00.21.H37`-`000.00.85.H37` in commune-code order. Central agencies belong
  to their ministries' trees, whose codes are unknown here: they get the placeholder level-1 code
  `Z37` (Z is not a QCVN 102:2016 group letter, so no collision with a real code is possible).
  Replace generated codes with the province's published ones (Quyết định of UBND tỉnh Lạng Sơn
  on mã định danh) when available.

To verify: names of the central units follow their 2025 naming (customs: "Hải quan cửa khẩu
quốc tế Hữu Nghị, Chi cục Hải quan khu vực VI" as reported by Thời báo Tài chính Việt Nam,
December 2025); the exact current names of the Tân Thanh, Chi Ma, Cốc Nam and Đồng Đăng railway
customs units, of the plant/animal quarantine bodies, and whether Sở Ngoại vụ still exists as a
separate agency, were not confirmed from an official source.
"""


def render_attribution(stats: dict) -> str:
    overrides = stats["coord_report"]["overridden"]
    if overrides:
        lines = ["| Code | Unit | Package point | Legacy centroid | Distance |", "| --- | --- | --- | --- | --- |"]
        for o in overrides:
            lines.append(
                f"| {o['code']} | {o['full_name']} ({stats['province_names'][o['province_code']]}) | "
                f"{o['package'][0]}, {o['package'][1]} | {o['centroid'][0]}, {o['centroid'][1]} | "
                f"{o['distance_km']} km |"
            )
        table = "\n".join(lines)
    else:
        table = "(none)"
    diffs = stats["crosscheck"]
    if diffs:
        parts = []
        for d in diffs:
            parts.append(
                f"old {d['old_code']}: official {', '.join(d['official']['new_codes'])} "
                f"(whole={str(d['official']['whole']).lower()}), vietnamadminunits "
                f"{', '.join(d['vietnamadminunits']['new_codes'])} "
                f"(whole={str(d['vietnamadminunits']['whole']).lower()})"
            )
        summary = (
            f"{len(diffs)} difference(s), the official table is used: " + "; ".join(parts) + ". "
            "(vietnamadminunits matches communes by unaccented name, and Bình Gia's Xã Hồng Phong "
            "collides with Cao Lộc's Xã Hồng Phong, which went to Xã Đồng Đăng.)"
        )
    else:
        summary = "identical."
    return ATTRIBUTION_TEMPLATE.format(override_table=table, crosscheck_summary=summary, **stats["fmt"])


# --------------------------------------------------------------------------- main


def generate(allow_version_mismatch: bool) -> tuple[dict[str, str], dict]:
    versions = check_versions(allow_version_mismatch)
    src = Sources()

    provinces = build_provinces(src)
    communes, coord_report = build_communes(src)
    legacy = build_lang_son_legacy(src)
    ls_conversion = build_lang_son_conversion(src, legacy, communes)
    all_conversion = conversion_rows(src, None)
    crosscheck = crosscheck_lang_son_conversion(src, ls_conversion)
    agencies = build_agencies(communes, ls_conversion)

    new_codes = {c["code"] for c in communes}
    check(all(r["new_code"] in new_codes for r in all_conversion), "conversion target not in communes.json")

    province_of = {c["code"]: c["province_code"] for c in communes}
    for o in coord_report["overridden"]:
        o["province_code"] = province_of[o["code"]]

    files = {
        "provinces.json": json_array(provinces),
        "communes.json": json_array(communes),
        "lang-son-legacy.json": json_object_of_arrays(legacy),
        "lang-son-conversion.json": json_array(ls_conversion),
        "conversion-all.json": json_array(all_conversion),
        "agencies-lang-son.json": json_array(agencies),
    }
    check(len(files["conversion-all.json"].encode()) < 3 * 1024 * 1024, "conversion-all.json exceeds 3 MB")

    legacy_points = Counter((c["lat"], c["lng"]) for c in legacy["communes"] if c["lat"] is not None)
    old_entries = src.old_to_new.values()
    by_source = coord_report["by_source"]
    stats_fmt = {
        "vp_version": versions["vietnam-provinces"],
        "vp_data_version": src.vp_data_version,
        "vau_version": versions["vietnamadminunits"],
        "conversion_source": src.conversion_source,
        "conversion_effective": src.conversion_effective,
        "n_provinces": len(provinces),
        "n_communes": len(communes),
        "n_legacy_districts": len(legacy["districts"]),
        "n_legacy_communes": len(legacy["communes"]),
        "n_ls_conversion": len(ls_conversion),
        "n_all_conversion": len(all_conversion),
        "n_agencies": len(agencies),
        "coord_decimals": COORD_DECIMALS,
        "override_km": OVERRIDE_MIN_DISTANCE_KM,
        "spread_km": OVERRIDE_MAX_SPREAD_KM,
        "n_coord_pkg": by_source.get("vietnamadminunits", 0),
        "n_coord_override": len(coord_report["overridden"]),
        "n_coord_centroid_only": len(coord_report["centroid_only"]),
        "n_coord_null": len(coord_report["missing"]),
        "n_province_null": sum(1 for p in provinces if p["lat"] is None),
        "n_legacy_null": sum(1 for c in legacy["communes"] if c["lat"] is None),
        "n_legacy_shared": sum(n for n in legacy_points.values() if n > 1),
        "n_ls_split": len({r["old_code"] for r in ls_conversion if not r["whole"]}),
        "n_all_old": len(src.old_to_new),
        "n_all_partial_single": sum(1 for e in old_entries if e.old_ward.is_partly_merged and len(e.new_wards) == 1),
        "n_legacy_without_row": sum(1 for code in src.legacy_wards if code not in src.old_to_new),
    }
    stats = {
        "fmt": stats_fmt,
        "coord_report": coord_report,
        "crosscheck": crosscheck,
        "province_names": {p["code"]: p["name"] for p in provinces},
    }

    sources = {
        "generator": "scripts/refdata/generate.py",
        "packages": {
            "vietnam-provinces": {
                "version": versions["vietnam-provinces"],
                "data_version": src.vp_data_version,
                "license": "GPL-3.0-or-later",
                "used_for": ["provinces", "communes", "lang-son-legacy", "conversion"],
            },
            "vietnamadminunits": {
                "version": versions["vietnamadminunits"],
                "license": "MIT",
                "used_for": ["coordinates", "conversion cross-check"],
            },
        },
        "conversion_table": {"source": src.conversion_source, "effective_date": src.conversion_effective},
        "counts": {
            name: stats_fmt[key]
            for name, key in [
                ("provinces", "n_provinces"),
                ("communes", "n_communes"),
                ("lang_son_legacy_districts", "n_legacy_districts"),
                ("lang_son_legacy_communes", "n_legacy_communes"),
                ("lang_son_conversion_rows", "n_ls_conversion"),
                ("conversion_all_rows", "n_all_conversion"),
                ("agencies_lang_son", "n_agencies"),
            ]
        },
        "coordinates": {
            "communes_by_source": by_source,
            "communes_overridden_by_legacy_centroid": coord_report["overridden"],
            "communes_centroid_only": coord_report["centroid_only"],
            "communes_null": coord_report["missing"],
            "provinces_null": stats_fmt["n_province_null"],
            "lang_son_legacy_null": stats_fmt["n_legacy_null"],
        },
        "crosscheck_lang_son_conversion_vs_vietnamadminunits": crosscheck,
    }
    files["sources.json"] = json.dumps(sources, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    files["ATTRIBUTION.md"] = render_attribution(stats)

    for name, text in files.items():
        check(unicodedata.is_normalized("NFC", text), f"{name} is not NFC")
        if name.endswith(".json"):
            assert_nfc(json.loads(text), name)
    return files, stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if the files on disk differ")
    parser.add_argument("--allow-version-mismatch", action="store_true", help="run with unpinned package versions")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help=f"output directory (default {DATA_DIR})")
    args = parser.parse_args()
    try:
        files, stats = generate(args.allow_version_mismatch)
    except GenerationError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    if args.check:
        stale = [
            n
            for n, t in files.items()
            if not (args.out / n).is_file() or (args.out / n).read_text(encoding="utf-8") != t
        ]
        for n in stale:
            print(f"stale: {args.out / n}", file=sys.stderr)
        return 1 if stale else 0

    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(files.items()):
        (args.out / name).write_text(text, encoding="utf-8", newline="\n")
        print(f"wrote {args.out / name} ({len(text.encode())} bytes)")
    f = stats["fmt"]
    print(
        f"provinces {f['n_provinces']}, communes {f['n_communes']} (coordinates: {f['n_coord_pkg']} package, "
        f"{f['n_coord_override']} legacy-centroid overrides, {f['n_coord_centroid_only']} centroid-only, "
        f"{f['n_coord_null']} null), Lạng Sơn legacy {f['n_legacy_districts']} districts / "
        f"{f['n_legacy_communes']} communes, conversion {f['n_ls_conversion']} (LS) / {f['n_all_conversion']} (all), "
        f"agencies {f['n_agencies']}, conversion cross-check differences {len(stats['crosscheck'])}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

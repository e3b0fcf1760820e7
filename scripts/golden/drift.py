#!/usr/bin/env python3
"""Reference drift tables for src/monitoring/ (the drift engine end to end).

Writes src/monitoring/__golden__/drift.json: two scenarios (a reference of 800 rows, where
Evidently picks p-value tests, and one of 1500 rows, where it picks distances), each with
numerical and categorical columns, NaN and infinities, shifted and unshifted columns, and for
every column the test Evidently's default choice picks, its score computed with SciPy/NumPy
the way Evidently computes it, and the verdict; plus the dataset verdict at drift share 0.5.

Evidently's rules, restated (evidently/legacy/calculations/stattests/registry.py
_get_default_stattest, data_drift.py get_one_column_drift): NaN and +-inf are dropped first;
n_values = distinct values of reference and current together; with at most 1000 reference
values, a numerical column with more than 5 values gets ks_2samp (drift at p <= 0.05),
otherwise chisquare (more than 2 values) or the z-test (drift at p < 0.05); above 1000,
normed Wasserstein (>= 0.1) or Jensen-Shannon over per-value shares (>= 0.1).

Run from the repository root:  python3 scripts/golden/drift.py
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import scipy
from scipy import stats
from scipy.spatial import distance

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "src" / "monitoring" / "__golden__" / "drift.json"


def num(v):
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def clean_num(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return a[np.isfinite(a)]


def clean_cat(a: list) -> list:
    return [v for v in a if v is not None]


def counts(values: list, keys: list) -> np.ndarray:
    return np.array([sum(1 for v in values if v == k) for k in keys], dtype=float)


def evidently_column(kind: str, ref_raw, cur_raw) -> dict:
    if kind == "numerical":
        ref, cur = clean_num(ref_raw), clean_num(cur_raw)
        ref_l, cur_l = list(ref), list(cur)
    else:
        ref_l, cur_l = clean_cat(ref_raw), clean_cat(cur_raw)
    n_values = len(set(ref_l) | set(cur_l))
    few = kind == "categorical" or n_values <= 5
    if len(ref_l) <= 1000:
        test = ("chisquare" if n_values > 2 else "z") if few else "ks"
    else:
        test = "jensenshannon" if few else "wasserstein"
    keys = sorted(set(ref_l) | set(cur_l))
    if test == "ks":
        p = stats.ks_2samp(ref, cur).pvalue
        return {"test": test, "score": num(p), "drifted": bool(p <= 0.05)}
    if test == "wasserstein":
        d = stats.wasserstein_distance(ref, cur) / max(float(np.std(ref)), 0.001)
        return {"test": test, "score": num(d), "drifted": bool(d >= 0.1)}
    rc, cc = counts(ref_l, keys), counts(cur_l, keys)
    if test == "chisquare":
        p = stats.chisquare(cc, rc * (len(cur_l) / len(ref_l))).pvalue
        return {"test": test, "score": num(p), "drifted": bool(p < 0.05)}
    if test == "z":
        if len(set(ref_l)) == 1 and len(set(cur_l)) == 1 and set(ref_l) == set(cur_l):
            p = 1.0
        else:
            x1 = sum(1 for v in ref_l if v != keys[0]) / len(ref_l)
            x2 = sum(1 for v in cur_l if v != keys[0]) / len(cur_l)
            P = (x1 * len(ref_l) + x2 * len(cur_l)) / (len(ref_l) + len(cur_l))
            z = (x1 - x2) / np.sqrt(P * (1 - P) * (1 / len(ref_l) + 1 / len(cur_l)))
            p = 2 * stats.norm.sf(abs(z))
        return {"test": test, "score": num(p), "drifted": bool(p < 0.05)}
    d = distance.jensenshannon(rc / len(ref_l), cc / len(cur_l))
    return {"test": test, "score": num(d), "drifted": bool(d >= 0.1)}


def scenario(name: str, n_ref: int, n_cur: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    r4 = lambda a: np.round(a, 4)  # noqa: E731
    cols: dict[str, tuple[str, object, object]] = {}
    cols["num_shifted"] = ("numerical", r4(rng.normal(0, 1, n_ref)), r4(rng.normal(0.6, 1, n_cur)))
    cols["num_same"] = ("numerical", r4(rng.normal(10, 2, n_ref)), r4(rng.normal(10, 2, n_cur)))
    ref = r4(rng.normal(5, 1, n_ref))
    cur = r4(rng.normal(5, 1.8, n_cur))
    ref[::37] = np.nan
    cur[::11] = np.nan
    cur[5] = np.inf
    ref[3] = -np.inf
    cols["num_wider_with_gaps"] = ("numerical", ref, cur)
    cols["num_four_values"] = ("numerical", rng.integers(0, 4, n_ref).astype(float), rng.choice(4, n_cur, p=[0.4, 0.3, 0.2, 0.1]).astype(float))
    cols["num_binary_same"] = ("numerical", rng.integers(0, 2, n_ref).astype(float), rng.integers(0, 2, n_cur).astype(float))
    letters = np.array(["a", "b", "c"])
    cref = list(rng.choice(letters, n_ref, p=[0.5, 0.3, 0.2]))
    ccur = list(rng.choice(letters, n_cur, p=[0.2, 0.3, 0.5]))
    for i in range(0, n_cur, 25):
        ccur[i] = None
    cols["cat_three_shifted"] = ("categorical", cref, ccur)
    cols["cat_binary_same"] = ("categorical", list(rng.choice(["yes", "no"], n_ref)), list(rng.choice(["yes", "no"], n_cur)))
    cols["num_empty_current"] = ("numerical", r4(rng.normal(0, 1, n_ref)), np.full(n_cur, np.nan))

    columns = []
    drifted = tested = 0
    for cname, (kind, r, c) in cols.items():
        if kind == "numerical":
            rj, cj = [num(v) for v in r], [num(v) for v in c]
        else:
            rj, cj = [None if v is None else str(v) for v in r], [None if v is None else str(v) for v in c]
        if kind == "numerical" and clean_num(c).size == 0:
            expected = {"status": "not_enough_data"}
        else:
            expected = {"status": "ok", **evidently_column(kind, r, c)}
            tested += 1
            drifted += expected["drifted"]
        columns.append({"name": cname, "kind": kind, "reference": rj, "current": cj, "expected": expected})
    share = drifted / tested
    return {"name": name, "columns": columns, "dataset": {"tested": tested, "drifted": drifted, "drift": share >= 0.5}}


def main() -> int:
    doc = {
        "generator": "scripts/golden/drift.py",
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scenarios": [scenario("small_reference", 800, 600, 5), scenario("large_reference", 1500, 1200, 6)],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, separators=(",", ":"), allow_nan=False) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")
    for s in doc["scenarios"]:
        for c in s["columns"]:
            print(s["name"], c["name"], c["expected"])
        print(s["name"], s["dataset"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

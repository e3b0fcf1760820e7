#!/usr/bin/env python3
"""Reference values for the drift statistics in src/stats/.

Writes four files to src/stats/__golden__/:

- special.json     special functions (log-gamma, incomplete gamma/beta, normal, Student t,
                   chi-square, Bessel K, Smirnov and Kolmogorov distributions, exact two-sample
                   KS) evaluated by scipy.special / scipy.stats;
- two-sample.json  two-sample tests on raw samples: ks_2samp, wasserstein_distance,
                   energy_distance, Evidently's normed Wasserstein, anderson_ksamp (three
                   variants), cramervonmises_2samp, mannwhitneyu, ttest_ind(equal_var=False);
- categorical.json chisquare, chi2_contingency and Evidently's two-proportion z-test;
- binned.json      bin edges (Sturges, equal width, reference quantiles), shares and the
                   binned measures PSI, KL, Jensen-Shannon, Hellinger, total variation.

Non-finite values: the TypeScript functions drop NaN and +-inf before a test (as the drift
layer and Evidently do). The samples below keep them, and the expected values are what SciPy
returns on the finite values only. When SciPy raises for the finite values, the case records
the error and the TypeScript function must throw too.

The binned measures are Evidently's formulas (its get_binned_data, _psi, _kl_div,
_jensenshannon, _hellinger_distance categorical branch, _total_variation_distance), restated
here with NumPy/SciPy; Evidently itself is not needed to run this script.

Run from the repository root:  python3 scripts/golden/stats.py
"""
from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import scipy
from scipy import special, stats
from scipy.spatial import distance
from scipy.stats._stats_py import _attempt_exact_2kssamp

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "src" / "stats" / "__golden__"


def num(v) -> float | str:
    """A float for JSON; non-finite values as strings the TypeScript side parses back."""
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def arr(a) -> list:
    return [num(v) for v in np.asarray(a, dtype=float)]


def finite(a) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return a[np.isfinite(a)]


def attempt(fn):
    """Runs fn(); returns its result dict, or {"error": message} when SciPy raises."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()
    except (ValueError, ZeroDivisionError, FloatingPointError) as e:
        return {"error": str(e).splitlines()[0]}


# ---------------------------------------------------------------------------------------------
# Special functions


def special_cases() -> list:
    rng = np.random.default_rng(11)
    out: list = []

    def add(fn: str, args: list, value) -> None:
        out.append({"fn": fn, "args": [num(a) for a in args], "value": num(value)})

    for x in list(rng.uniform(0.01, 30, 20)) + [0.5, 1, 1.5, 2, 3, 19.5, 20, 100, 1e4, 5e5, 1e-5]:
        add("lgamma", [x], special.gammaln(x))
    for a in [0.5, 1, 2.5, 10, 50, 500]:
        for x in [0.01, 0.3, 1, 2, 5, 10, 40, 60, 200, 490, 510, 700]:
            add("gammaincc", [a, x], special.gammaincc(a, x))
            add("gammainc", [a, x], special.gammainc(a, x))
    for df in [1, 2, 3, 7, 30]:
        for x in [0, 0.5, 3, 11, 40, 200]:
            add("chi2Sf", [x, df], special.chdtrc(df, x))
    for z in [-38, -30, -10, -5, -2, -1, -0.1, 0, 0.3, 1, 3, 8, 20]:
        add("normalCdf", [z], special.ndtr(z))
    for df in [1, 2.5, 7, 30, 120.7, 1e3, 1e5]:
        for t in [-50, -5, -1.5, -0.2, 0, 0.001, 0.7, 2, 4, 10, 40, 1e3]:
            add("studentTSf", [t, df], special.stdtr(df, -t))
    for a, b in [(0.5, 0.5), (2, 3), (50, 0.5), (0.5, 50), (1e4, 0.5), (300, 400)]:
        for x in [1e-6, 0.01, 0.2, 0.43, 0.5, 0.9, 0.999]:
            add("betainc", [a, b, x], special.betainc(a, b, x))
    for x in [1e-4, 0.01, 0.1, 0.5, 1, 2, 5, 10, 50, 300]:
        add("besselK", [0.25, x], special.kv(0.25, x))
        add("besselKScaled", [0.25, x], special.kve(0.25, x))
    for n in [2, 3, 5, 10, 20, 50, 100, 140, 141, 200, 1000, 5000, 100000, 500000, 2000000]:
        for x in [0.001, 0.01, 0.03, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3, 0.45, 0.5, 0.6, 0.8, 0.95, 0.999]:
            add("smirnovSf", [n, x], special.smirnov(n, x))
            add("kolmogorovSf", [n, x], stats.kstwo.sf(x, n))
    for n in [1000, 5000, 100000, 500000]:
        for z in [0.3, 0.5, 0.7, 0.9, 1.0, 1.2, 1.4, 1.6, 2.0, 3.0, 5.0]:
            x = z / math.sqrt(n)
            add("kolmogorovSf", [n, x], stats.kstwo.sf(x, n))
    for n1, n2 in [(5, 5), (10, 10), (7, 13), (100, 100), (100, 250), (1000, 1000), (999, 1000), (3000, 7000)]:
        for d in [0.05, 0.1, 0.2, 0.35, 0.5, 0.8]:
            _, _, p = _attempt_exact_2kssamp(n1, n2, math.gcd(n1, n2), d, "two-sided")
            add("ks2SampleExactSf", [n1, n2, d], p)
    return out


# ---------------------------------------------------------------------------------------------
# Two-sample tests


def two_sample_inputs() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(20240601)
    r = lambda a, d=6: np.round(a, d)  # noqa: E731 - keeps the JSON small
    cases: list[tuple[str, np.ndarray, np.ndarray]] = []
    cases.append(("normal_shifted_small", r(rng.normal(0, 1, 30)), r(rng.normal(0.8, 1, 40))))
    cases.append(("normal_same_medium", r(rng.normal(5, 2, 200)), r(rng.normal(5, 2, 300))))
    cases.append(("equal_sizes_exact", r(rng.normal(0, 1, 1000)), r(rng.normal(0.1, 1, 1000))))
    cases.append(("unequal_sizes_exact", r(rng.normal(0, 1, 500)), r(rng.normal(0, 1.3, 700))))
    cases.append(("ties_rounded", np.round(rng.normal(0, 1, 150), 1), np.round(rng.normal(0.2, 1, 120), 1)))
    cases.append(("few_distinct_integers", rng.integers(0, 5, 300).astype(float), rng.integers(0, 5, 250).astype(float)))
    cases.append(("tiny_3_4", np.array([0.3, -1.2, 2.5]), np.array([1.1, 0.4, 3.3, -0.7])))
    cases.append(("tiny_1_5", np.array([0.5]), np.array([1.0, 2.0, 3.0, 4.0, 5.0])))
    cases.append(("tiny_2_2", np.array([1.0, 2.0]), np.array([3.0, 4.0])))
    cases.append(("mwu_exact_6_7", r(rng.normal(0, 1, 6)), r(rng.normal(1, 1, 7))))
    cases.append(("cvm_exact_10_12", r(rng.normal(0, 1, 10)), r(rng.normal(0.5, 1, 12))))
    cases.append(("cvm_exact_ties_8_9", np.round(rng.normal(0, 1, 8), 0), np.round(rng.normal(0, 1, 9), 0)))
    cases.append(("constant_equal", np.full(20, 5.0), np.full(25, 5.0)))
    cases.append(("constant_different", np.full(20, 5.0), np.full(25, 6.0)))
    cases.append(("constant_vs_spread", np.full(30, 1.0), r(rng.normal(1, 1, 40))))
    x = r(rng.normal(0, 1, 60))
    x[[3, 17, 40]] = [np.nan, np.inf, -np.inf]
    y = r(rng.normal(0.3, 1.2, 70))
    y[[0, 5]] = [np.nan, np.nan]
    cases.append(("nan_and_infinities", x, y))
    cases.append(("skewed_exponential_lognormal", r(rng.exponential(1, 400)), r(rng.lognormal(0, 0.6, 350))))
    cases.append(("asymptotic_unequal", r(rng.normal(0, 1, 10500), 5), r(rng.normal(0.05, 1, 600), 5)))
    cases.append(("asymptotic_shifted", r(rng.normal(0, 1, 10200), 5), r(rng.normal(0.3, 1, 900), 5)))
    cases.append(("scale_large_values", r(rng.normal(1e6, 5e3, 120), 2), r(rng.normal(1.001e6, 5e3, 110), 2)))
    return cases


def two_sample_expected(x: np.ndarray, y: np.ndarray) -> dict:
    fx, fy = finite(x), finite(y)
    e: dict = {}

    def ks():
        res = stats.ks_2samp(fx, fy)
        return {"statistic": num(res.statistic), "pvalue": num(res.pvalue),
                "method": "exact" if max(fx.size, fy.size) <= 10000 else "asymp"}

    def wasser():
        return {"value": num(stats.wasserstein_distance(fx, fy))}

    def energy():
        return {"value": num(stats.energy_distance(fx, fy))}

    def normed():
        norm = max(float(np.std(fx)), 0.001)
        return {"value": num(stats.wasserstein_distance(fx, fy) / norm)}

    def anderson(variant):
        def run():
            res = stats.anderson_ksamp([fx, fy], variant=variant)
            return {"statistic": num(res.statistic), "pvalue": num(res.pvalue)}
        return run

    def cvm():
        res = stats.cramervonmises_2samp(fx, fy)
        return {"statistic": num(res.statistic), "pvalue": num(res.pvalue)}

    def mwu():
        res = stats.mannwhitneyu(fx, fy, alternative="two-sided")
        return {"statistic": num(res.statistic), "pvalue": num(res.pvalue)}

    def welch():
        res = stats.ttest_ind(fx, fy, equal_var=False)
        return {"statistic": num(res.statistic), "pvalue": num(res.pvalue), "df": num(res.df)}

    e["ks"] = attempt(ks)
    e["wasserstein"] = attempt(wasser)
    e["energy"] = attempt(energy)
    e["normed_wasserstein"] = attempt(normed)
    e["anderson_midrank"] = attempt(anderson("midrank"))
    e["anderson_right"] = attempt(anderson("right"))
    e["anderson_continuous"] = attempt(anderson("continuous"))
    e["cramer_von_mises"] = attempt(cvm)
    e["mann_whitney"] = attempt(mwu)
    e["welch"] = attempt(welch)
    return e


# ---------------------------------------------------------------------------------------------
# Categorical tests


def categorical_cases() -> dict:
    chisq = []
    for name, obs, exp in [
        ("uniform_expected", [16, 18, 16, 14, 12, 12], None),
        ("given_expected", [16, 18, 16, 14, 12, 12], [16, 16, 16, 16, 16, 8]),
        ("evidently_scaled_reference", [120, 60, 20], list(np.array([500, 400, 100]) * (200 / 1000))),
        ("large_counts_small_p", [5200, 4100, 700], [5000.0, 4000.0, 1000.0]),
        ("single_category", [40], [40.0]),
        ("zero_expected_category", [10, 5, 3], [12.0, 6.0, 0.0]),
        ("totals_disagree", [10, 20], [10.0, 25.0]),
    ]:
        def run(obs=obs, exp=exp):
            res = stats.chisquare(obs, exp)
            return {"statistic": num(res.statistic), "pvalue": num(res.pvalue)}
        chisq.append({"name": name, "observed": obs, "expected_counts": exp, "expected": attempt(run)})

    contingency = []
    for name, table, corr in [
        ("two_by_two_yates", [[12, 5], [7, 15]], True),
        ("two_by_two_no_correction", [[12, 5], [7, 15]], False),
        ("two_by_three", [[10, 20, 30], [15, 25, 20]], True),
        ("three_by_four", [[8, 12, 9, 4], [6, 14, 11, 9], [10, 3, 7, 12]], True),
        ("one_row", [[3, 4, 5]], True),
        ("zero_column", [[3, 0], [4, 0]], True),
    ]:
        def run(table=table, corr=corr):
            res = stats.chi2_contingency(table, correction=corr)
            return {"statistic": num(res.statistic), "pvalue": num(res.pvalue), "dof": int(res.dof)}
        contingency.append({"name": name, "table": table, "correction": corr, "expected": attempt(run)})

    z = []
    for name, x1, n1, x2, n2 in [
        ("balanced", 40, 100, 55, 100),
        ("unbalanced_sizes", 130, 1000, 31, 200),
        ("tiny_p", 100, 10000, 400, 10000),
        ("same_constant", 0, 50, 0, 60),
        ("different_constants", 0, 50, 60, 60),
    ]:
        p1 = float(x1) / n1
        p2 = float(x2) / n2
        if x1 + x2 in (0, n1 + n2):
            expected = {"statistic": 0.0, "pvalue": 1.0}
        else:
            P = float(p1 * n1 + p2 * n2) / (n1 + n2)
            zs = (p1 - p2) / np.sqrt(P * (1 - P) * (1.0 / n1 + 1.0 / n2))
            expected = {"statistic": num(zs), "pvalue": num(min(1.0, 2 * stats.norm.sf(abs(zs))))}
        z.append({"name": name, "x1": x1, "n1": n1, "x2": x2, "n2": n2, "expected": expected})
    return {"chisquare": chisq, "chi2_contingency": contingency, "z_test": z}


# ---------------------------------------------------------------------------------------------
# Binned measures


def fill_zeroes(p: np.ndarray) -> np.ndarray:
    """Evidently's replacement of empty shares before PSI and KL."""
    p = p.copy()
    nz = p[p != 0]
    fill = nz.min() / 10**6 if nz.min() <= 0.0001 else 0.0001
    p[p == 0] = fill
    return p


def counts_for_edges(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """numpy.histogram semantics for explicit edges: [e_i, e_i+1), last bin closed."""
    s = np.sort(x)
    cum = np.concatenate((np.searchsorted(s, edges[:-1], "left"), np.searchsorted(s, edges[-1:], "right")))
    return np.diff(cum).astype(float)


def binned_expected(ref: np.ndarray, cur: np.ndarray, scheme: str, n_bins: int | None) -> dict:
    fr, fc = finite(ref), finite(cur)
    if np.unique(fr).size > 20:
        pooled = np.concatenate([fr, fc])
        if scheme == "sturges":
            edges = np.histogram_bin_edges(pooled, bins="sturges" if n_bins is None else n_bins)
            rc = np.histogram(fr, edges)[0].astype(float)
            cc = np.histogram(fc, edges)[0].astype(float)
            assert np.array_equal(rc, counts_for_edges(fr, edges))
        else:
            k = 10 if n_bins is None else n_bins
            q = np.quantile(fr, np.linspace(0, 1, k + 1))[1:-1]
            edges = np.concatenate(([-np.inf], np.unique(q), [np.inf]))
            rc = counts_for_edges(fr, edges)
            cc = counts_for_edges(fc, edges)
        keys = None
    else:
        keys = np.unique(np.concatenate([fr, fc]))
        rc = np.array([np.sum(fr == k) for k in keys], dtype=float)
        cc = np.array([np.sum(fc == k) for k in keys], dtype=float)
        edges = None
    rp = rc / fr.size
    cp = cc / fc.size
    rpf, cpf = fill_zeroes(rp), fill_zeroes(cp)
    return {
        "edges": None if edges is None else arr(edges),
        "keys": None if keys is None else arr(keys),
        "reference_counts": arr(rc),
        "current_counts": arr(cc),
        "psi": num(np.sum((rpf - cpf) * np.log(rpf / cpf))),
        "kl": num(stats.entropy(rpf, cpf)),
        "jensenshannon": num(distance.jensenshannon(rp, cp)),
        "jensenshannon_base2": num(distance.jensenshannon(rp, cp, base=2)),
        "hellinger": num(math.sqrt(1 - float(np.clip(np.sum(np.sqrt(rp * cp)), 0, 1)))),
        "tvd": num(0.5 * np.sum(np.abs(rc / rc.sum() - cc / cc.sum()))),
    }


def binned_cases() -> list:
    rng = np.random.default_rng(99)
    r = lambda a: np.round(a, 6)  # noqa: E731
    inputs = [
        ("normal_shift", r(rng.normal(0, 1, 2000)), r(rng.normal(0.5, 1, 1500))),
        ("normal_same", r(rng.normal(10, 3, 3000)), r(rng.normal(10, 3, 2500))),
        ("current_outside_reference", r(rng.uniform(0, 1, 1000)), r(rng.uniform(0.5, 2, 800))),
        ("heavy_ties_in_reference", np.round(rng.exponential(1, 2000), 1), np.round(rng.exponential(1.2, 1800), 1)),
        ("few_distinct_values", rng.integers(0, 6, 1200).astype(float), rng.integers(1, 8, 900).astype(float)),
        ("power_of_two_pooled", r(rng.normal(0, 1, 512)), r(rng.normal(0, 1, 512))),
    ]
    x = r(rng.normal(0, 1, 500))
    x[[1, 2, 3]] = [np.nan, np.inf, -np.inf]
    y = r(rng.normal(0.2, 1, 400))
    y[7] = np.nan
    inputs.append(("nan_and_infinities", x, y))
    out = []
    for name, ref, cur in inputs:
        out.append({
            "name": name,
            "reference": arr(ref),
            "current": arr(cur),
            "sturges": binned_expected(ref, cur, "sturges", None),
            "equal_width_7": binned_expected(ref, cur, "sturges", 7),
            "quantile_10": binned_expected(ref, cur, "quantile", None),
            "quantile_4": binned_expected(ref, cur, "quantile", 4),
        })
    return out


# ---------------------------------------------------------------------------------------------


def write(name: str, doc: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    doc = {"generator": "scripts/golden/stats.py", "numpy": np.__version__, "scipy": scipy.__version__, **doc}
    (OUT / name).write_text(json.dumps(doc, separators=(",", ":"), allow_nan=False) + "\n")
    print(f"wrote {OUT.relative_to(ROOT) / name}")


def main() -> int:
    write("special.json", {"cases": special_cases()})
    two = [{"name": n, "x": arr(x), "y": arr(y), "expected": two_sample_expected(x, y)} for n, x, y in two_sample_inputs()]
    write("two-sample.json", {"cases": two})
    write("categorical.json", categorical_cases())
    write("binned.json", {"cases": binned_cases()})
    return 0


if __name__ == "__main__":
    sys.exit(main())

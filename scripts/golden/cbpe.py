#!/usr/bin/env python3
"""Reference values for src/monitoring/isotonic.ts and src/monitoring/cbpe.ts.

Writes src/monitoring/__golden__/cbpe.json:
- isotonic: scikit-learn's IsotonicRegression(out_of_bounds="clip") restated with SciPy: ties in x
  merged into their mean (weighted by count), scipy.optimize.isotonic_regression (PAVA) on the
  means, predictions by numpy.interp (which clips outside the fitted range);
- ece: NannyML's expected calibration error (equal-count bins over rows sorted by probability);
- auroc_components / accuracy_std: NannyML's sampling-error components, restated in NumPy from
  nannyml/sampling_error/binary_classification.py; the restatement is checked against the value
  NannyML's own test asserts (0.0575 for its seeded case) before anything is written;
- estimate_roc_auc: NannyML's estimate (descending uncalibrated order, cumulative expected true
  and false positives rounded to 5 decimals, trapezoidal area).

Run from the repository root:  python3 scripts/golden/cbpe.py
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import isotonic_regression

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "src" / "monitoring" / "__golden__" / "cbpe.json"


def isotonic_case(x: np.ndarray, y: np.ndarray, query: np.ndarray) -> dict:
    ux, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=y)
    means = sums / counts
    fitted = isotonic_regression(means, weights=counts.astype(float), increasing=True).x
    pred = np.interp(query, ux, fitted)
    return {"x": x.tolist(), "y": y.tolist(), "query": query.tolist(), "fit_x": ux.tolist(), "fit_y": fitted.tolist(), "predict": pred.tolist()}


def ece(y_true: np.ndarray, proba: np.ndarray, bins: int = 10) -> float:
    n = len(proba)
    if n <= 2 * bins:
        bins = n // 2
    width = n // bins
    edges = list(range(0, n + 1, width))
    edges[-1] = n
    order = np.argsort(proba, kind="stable")
    p, t = proba[order], y_true[order]
    total = 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        total += (b - a) / n * abs(np.mean(p[a:b]) - np.mean(t[a:b]))
    return float(total)


def auroc_components(y_true: np.ndarray, proba: np.ndarray) -> tuple[float, float]:
    y = y_true.astype(float).copy()
    p = proba.astype(float).copy()
    if y.mean() > 0.5:
        y = 1 - y
        p = 1 - p
    order = np.argsort(p, kind="stable")
    y = y[order]
    ranks = np.arange(len(p))
    positive_ranks = y * ranks
    indexes = np.unique(positive_ranks)[1:]
    ser = np.array([index - i for i, index in enumerate(indexes)])
    n_pos = y.sum()
    n_neg = len(y) - n_pos
    return float(np.std(ser / n_neg)), float(n_pos / len(y))


def estimate_roc_auc(calibrated: np.ndarray, scores: np.ndarray) -> float:
    order = np.argsort(scores, kind="stable")[::-1]
    c = calibrated[order]
    tps = np.round(np.r_[0, np.cumsum(c)], 5)
    fps = np.round(np.r_[0, 1 + np.arange(len(c)) - np.cumsum(c)], 5)
    tpr = tps / tps[-1]
    fpr = fps / fps[-1]
    return float(np.trapezoid(tpr, fpr))


def main() -> None:
    rng = np.random.default_rng(7)
    iso = [
        isotonic_case(np.array([1.0, 2, 3, 4, 5]), np.array([1.0, 3, 2, 4, 3.5]), np.array([0.0, 1.5, 2.5, 4.5, 9])),
        isotonic_case(np.array([0.1, 0.1, 0.2, 0.3, 0.3, 0.3, 0.9]), np.array([0.0, 1, 0, 1, 1, 0, 1]), np.array([0.1, 0.15, 0.25, 0.5, 0.95])),
    ]
    x = rng.random(300)
    y = (rng.random(300) < x**2).astype(float)
    iso.append(isotonic_case(np.round(x, 2), y, np.linspace(-0.1, 1.1, 25)))

    # NannyML's own test of the AUROC sampling error, with its seed: the restatement must agree.
    np.random.seed(1)
    chunk = np.random.random(50)
    y_true = np.random.binomial(1, 0.5, 10000)
    y_score = np.linspace(0, 1, 10000)
    s, f = auroc_components(y_true, y_score)
    check = round(s / np.sqrt(len(chunk) * f), 4)
    if check != 0.0575:
        sys.exit(f"restated AUROC sampling error {check} != NannyML's 0.0575")

    cases = []
    for seed, n, flip in [(11, 400, False), (12, 1000, True), (13, 57, False)]:
        r = np.random.default_rng(seed)
        p = r.random(n)
        yt = (r.random(n) < p).astype(int)
        if flip:
            yt = np.where(r.random(n) < 0.4, 1, yt)
        yp = (p >= 0.5).astype(int)
        cal = np.clip(p + r.normal(0, 0.05, n), 0, 1)
        std, frac = auroc_components(yt, p)
        cases.append({
            "y_true": yt.tolist(),
            "proba": p.tolist(),
            "calibrated": cal.tolist(),
            "auroc_std": std,
            "auroc_fraction": frac,
            "accuracy_std": float(np.std((yt == yp).astype(int))),
            "ece": ece(yt.astype(float), p),
            "estimate_roc_auc": estimate_roc_auc(cal, p),
        })

    OUT.write_text(json.dumps({
        "isotonic": iso,
        "nannyml_auroc_case": {"y_true": y_true.tolist(), "chunk_size": 50, "sampling_error_4dp": 0.0575},
        "cases": cases,
    }))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

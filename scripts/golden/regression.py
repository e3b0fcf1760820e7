#!/usr/bin/env python3
"""Reference values for src/stats/regression.ts.

Writes src/stats/__golden__/regression.json: cases with y_true, y_pred and the expected
MAE, MSE, RMSE, MAPE and R², computed with NumPy implementations of scikit-learn's
definitions (MAPE divides by max(|y|, float64 eps); R² is 1 or 0 for constant y_true, as
r2_score with force_finite=True). When scikit-learn is installed the values are also checked
against it.

Run from the repository root:  python3 scripts/golden/regression.py
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "src" / "stats" / "__golden__" / "regression.json"
EPS = np.finfo(np.float64).eps


def metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    err = y_true - y_pred
    mse = float(np.mean(err**2))
    ss_res = float(np.sum(err**2))
    ss_tot = float(np.sum((y_true - np.mean(y_true)) ** 2))
    if ss_tot == 0:
        r2 = 1.0 if ss_res == 0 else 0.0
    else:
        r2 = 1 - ss_res / ss_tot
    return {
        "mae": float(np.mean(np.abs(err))),
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mape": float(np.mean(np.abs(err) / np.maximum(np.abs(y_true), EPS))),
        "r2": r2,
    }


def check_with_sklearn(y_true: np.ndarray, y_pred: np.ndarray, m: dict[str, float]) -> None:
    import sklearn.metrics as skm

    def close(a: float, b: float) -> bool:
        return abs(a - b) <= 1e-12 * max(1.0, abs(b))

    assert close(m["mae"], skm.mean_absolute_error(y_true, y_pred))
    assert close(m["mse"], skm.mean_squared_error(y_true, y_pred))
    assert close(m["mape"], skm.mean_absolute_percentage_error(y_true, y_pred))
    assert close(m["r2"], skm.r2_score(y_true, y_pred))


def build_cases() -> list[dict]:
    rng = np.random.default_rng(7)
    cases: list[tuple[str, np.ndarray, np.ndarray]] = []

    y = rng.normal(50, 10, 300)
    cases.append(("noisy_linear", y, y + rng.normal(0, 3, y.size)))

    y = rng.normal(0, 1, 100)
    cases.append(("worse_than_mean_negative_r2", y, -y + rng.normal(0, 0.5, y.size)))

    y = np.array([0.0, 1.5, -2.0, 0.0, 3.25, 10.0])
    cases.append(("zeros_in_y_true_for_mape", y, np.array([0.5, 1.0, -2.5, 0.0, 3.0, 9.0])))

    y = rng.normal(5, 2, 25)
    cases.append(("perfect", y, y.copy()))

    y = np.full(12, 3.0)
    cases.append(("constant_y_true_perfect", y, y.copy()))
    cases.append(("constant_y_true_imperfect", y, y + rng.normal(0, 1, y.size)))

    y = rng.normal(0, 1, 30)
    cases.append(("constant_prediction", y, np.full(y.size, 0.25)))

    try:
        import sklearn  # noqa: F401

        have_sklearn = True
    except ImportError:
        have_sklearn = False
    print(f"scikit-learn cross-check: {'yes' if have_sklearn else 'not installed, skipped'}")

    out = []
    for name, y_true, y_pred in cases:
        m = metrics(y_true, y_pred)
        if have_sklearn:
            check_with_sklearn(y_true, y_pred, m)
        out.append(
            {
                "name": name,
                "y_true": [float(v) for v in y_true],
                "y_pred": [float(v) for v in y_pred],
                "expected": m,
            }
        )
    return out


def main() -> int:
    cases = build_cases()
    doc = {"generator": "scripts/golden/regression.py", "numpy": np.__version__, "cases": cases}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {len(cases)} cases to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

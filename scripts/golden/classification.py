#!/usr/bin/env python3
"""Reference values for src/stats/classification.ts.

Writes src/stats/__golden__/classification.json: a list of cases, each with its inputs
(y_true, y_score, y_pred) and the expected metrics. The metrics are computed here with
NumPy/SciPy implementations of scikit-learn's definitions; when scikit-learn is installed
they are additionally checked against it before anything is written.

Run from the repository root:  python3 scripts/golden/classification.py
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import mannwhitneyu

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "src" / "stats" / "__golden__" / "classification.json"
LOG_LOSS_EPS = 1e-15  # scikit-learn's log_loss clipping before version 1.5


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, int]:
    return {
        "tn": int(np.sum((y_true == 0) & (y_pred == 0))),
        "fp": int(np.sum((y_true == 0) & (y_pred == 1))),
        "fn": int(np.sum((y_true == 1) & (y_pred == 0))),
        "tp": int(np.sum((y_true == 1) & (y_pred == 1))),
    }


def safe_div(a: float, b: float) -> float:
    # scikit-learn's zero_division default: 0 (with a warning) when the denominator is 0.
    return 0.0 if b == 0 else a / b


def roc_auc_trapezoid(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Area under the ROC curve the way scikit-learn's roc_curve + auc compute it."""
    order = np.argsort(y_score, kind="mergesort")[::-1]
    s = y_score[order]
    y = y_true[order]
    # The last index of each run of equal scores is a threshold of the curve.
    distinct = np.where(np.diff(s))[0]
    threshold_idx = np.r_[distinct, y.size - 1]
    tps = np.cumsum(y)[threshold_idx]
    fps = 1 + threshold_idx - tps
    tpr = np.r_[0, tps] / tps[-1]
    fpr = np.r_[0, fps] / fps[-1]
    return float(np.trapezoid(tpr, fpr) if hasattr(np, "trapezoid") else np.trapz(tpr, fpr))


def roc_auc_mann_whitney(y_true: np.ndarray, y_score: np.ndarray) -> float:
    pos = y_score[y_true == 1]
    neg = y_score[y_true == 0]
    u = mannwhitneyu(pos, neg, alternative="two-sided", method="asymptotic").statistic
    return float(u) / (pos.size * neg.size)


def log_loss(y_true: np.ndarray, y_proba: np.ndarray) -> float:
    p = np.clip(y_proba, LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    return float(-np.mean(y_true * np.log(p) + (1 - y_true) * np.log(1 - p)))


def metrics(y_true: np.ndarray, y_score: np.ndarray, y_pred: np.ndarray) -> dict:
    cm = confusion(y_true, y_pred)
    tn, fp, fn, tp = cm["tn"], cm["fp"], cm["fn"], cm["tp"]
    prec = safe_div(tp, tp + fp)
    rec = safe_div(tp, tp + fn)
    f1 = safe_div(2 * prec * rec, prec + rec)
    auc = roc_auc_trapezoid(y_true, y_score)
    auc_mw = roc_auc_mann_whitney(y_true, y_score)
    assert abs(auc - auc_mw) <= 1e-12, (auc, auc_mw)
    return {
        "accuracy": (tp + tn) / y_true.size,
        "precision": prec,
        "recall": rec,
        "f1": f1,
        "roc_auc": auc,
        "log_loss": log_loss(y_true, y_score),
        "confusion": cm,
    }


def check_with_sklearn(
    y_true: np.ndarray, y_score: np.ndarray, y_pred: np.ndarray, m: dict
) -> None:
    import sklearn.metrics as skm

    def close(a: float, b: float) -> bool:
        return abs(a - b) <= 1e-12 * max(1.0, abs(b))

    assert close(m["accuracy"], skm.accuracy_score(y_true, y_pred))
    assert close(m["precision"], skm.precision_score(y_true, y_pred, zero_division=0))
    assert close(m["recall"], skm.recall_score(y_true, y_pred, zero_division=0))
    assert close(m["f1"], skm.f1_score(y_true, y_pred, zero_division=0))
    assert close(m["roc_auc"], skm.roc_auc_score(y_true, y_score))
    [[tn, fp], [fn, tp]] = skm.confusion_matrix(y_true, y_pred, labels=[0, 1])
    assert m["confusion"] == {"tn": tn, "fp": fp, "fn": fn, "tp": tp}
    # log_loss's clipping changed in scikit-learn 1.5 (dtype eps instead of 1e-15), so it is
    # only compared where no probability needs clipping.
    if np.all((y_score > LOG_LOSS_EPS) & (y_score < 1 - LOG_LOSS_EPS)):
        assert close(m["log_loss"], skm.log_loss(y_true, y_score, labels=[0, 1]))


def build_cases() -> list[dict]:
    rng = np.random.default_rng(20240611)
    cases: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []

    # Noisy scores rounded to one decimal: many tied scores across both classes.
    y = (rng.random(200) < 0.4).astype(np.int64)
    s = np.clip(np.round(0.35 + 0.3 * y + rng.normal(0, 0.2, y.size), 1), 0, 1)
    cases.append(("ties_rounded_scores", y, s, (s >= 0.5).astype(np.int64)))

    # Only five distinct scores, including exact 0 and 1 (log loss clipping both ways).
    y = (rng.random(57) < 0.5).astype(np.int64)
    s = rng.choice(np.array([0.0, 0.25, 0.5, 0.75, 1.0]), size=y.size)
    cases.append(("five_score_levels_with_0_and_1", y, s, (s >= 0.5).astype(np.int64)))

    # Continuous scores, no ties, larger sample.
    y = (rng.random(2000) < 0.3).astype(np.int64)
    z = rng.normal(0, 1, y.size) + 1.2 * y - 0.8
    s = 1 / (1 + np.exp(-z))
    cases.append(("continuous_2000", y, s, (s >= 0.5).astype(np.int64)))

    # Constant score for every sample (AUC 0.5) and constant positive prediction.
    y = (rng.random(40) < 0.35).astype(np.int64)
    s = np.full(y.size, 0.5)
    cases.append(("constant_score_all_positive_prediction", y, s, np.ones(y.size, dtype=np.int64)))

    # Constant negative prediction: precision, recall and F1 hit the zero-division rule.
    y = (rng.random(64) < 0.5).astype(np.int64)
    s = rng.random(y.size)
    cases.append(("all_negative_prediction", y, s, np.zeros(y.size, dtype=np.int64)))

    # Perfect ranking with certain probabilities: AUC 1, log loss from clipping only.
    y = np.array([0, 0, 0, 1, 1, 0, 1, 1, 1, 0], dtype=np.int64)
    s = y.astype(np.float64)
    cases.append(("perfect_certain", y, s, y.copy()))

    # Perfectly wrong ranking: AUC 0.
    y = np.array([1, 1, 0, 0, 1, 0, 0], dtype=np.int64)
    s = np.array([0.1, 0.2, 0.9, 0.8, 0.3, 0.7, 0.6])
    cases.append(("inverted_ranking", y, s, (s >= 0.5).astype(np.int64)))

    # A single positive among many negatives, with ties at its score.
    y = np.array([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0], dtype=np.int64)
    s = np.array([0.2, 0.4, 0.4, 0.4, 0.4, 0.1, 0.9, 0.4, 0.3, 0.4, 0.0])
    cases.append(("single_positive_tied", y, s, (s >= 0.35).astype(np.int64)))

    try:
        import sklearn  # noqa: F401

        have_sklearn = True
    except ImportError:
        have_sklearn = False
    print(f"scikit-learn cross-check: {'yes' if have_sklearn else 'not installed, skipped'}")

    out = []
    for name, y_true, y_score, y_pred in cases:
        m = metrics(y_true, y_score, y_pred)
        if have_sklearn:
            check_with_sklearn(y_true, y_score, y_pred, m)
        out.append(
            {
                "name": name,
                "y_true": [int(v) for v in y_true],
                "y_score": [float(v) for v in y_score],
                "y_pred": [int(v) for v in y_pred],
                "expected": {k: (v if isinstance(v, dict) else float(v)) for k, v in m.items()},
            }
        )
    return out


def main() -> int:
    cases = build_cases()
    doc = {
        "generator": "scripts/golden/classification.py",
        "numpy": np.__version__,
        "log_loss_eps": LOG_LOSS_EPS,
        "cases": cases,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {len(cases)} cases to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The latent map: a 2-D projection of the world model's features (deter ++ stoch) that stays put across reports.

`IncrementalPCA` is a small pure-numpy incremental PCA: it keeps the running mean and the leading singular
directions of every feature row it has been fed, so its principal axes are those of all features seen so far and
move only a little with each new report. Axis signs are fixed against the previous
axes, so a report's map never flips when its axes barely change. `map_points` projects one report's real steps and
imagined futures with it.

Shapes as in docs/tensor_shapes.md (T report steps, Tc its context, M futures, H imagined steps, N rows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class IncrementalPCA:
    """Principal axes of every row passed to `partial_fit` (Ross et al. 2008, as scikit-learn's IncrementalPCA):
    a running mean and the `rank` largest singular directions of the centred data seen so far, updated by one thin
    SVD of (rank + N + 1, F) per batch, so memory and time stay small for any feature size."""

    def __init__(self, components: int = 2, rank: int = 16) -> None:
        self.components = components
        self.rank = max(rank, components)
        self.n = 0
        self.mean: np.ndarray | None = None  # (F,)
        self.singular: np.ndarray | None = None  # (rank,) singular values of the centred data seen so far
        self.basis: np.ndarray | None = None  # (rank, F) its right singular vectors
        self.axes: np.ndarray | None = None  # (components, F) unit rows, largest variance first
        self.variance: np.ndarray | None = None  # (components,) variance along each axis

    def partial_fit(self, rows: np.ndarray) -> IncrementalPCA:
        rows = np.asarray(rows, np.float64).reshape(-1, np.shape(rows)[-1])  # (N, F)
        if len(rows) == 0:
            return self
        if self.mean is not None and rows.shape[1] != self.mean.shape[0]:
            self.__init__(self.components, self.rank)  # another model (a new run): start over
        m = len(rows)
        batch_mean = rows.mean(0)  # (F,)
        if self.mean is None:
            stacked = rows - batch_mean  # (N, F)
            self.n, self.mean = m, batch_mean
        else:
            total = self.n + m
            correction = np.sqrt(self.n * m / total) * (self.mean - batch_mean)  # (F,)
            stacked = np.vstack([self.singular[:, None] * self.basis, rows - batch_mean, correction])  # (rank+N+1, F)
            self.mean = self.mean + (batch_mean - self.mean) * m / total
            self.n = total
        _, singular, vt = np.linalg.svd(stacked, full_matrices=False)  # (kept,), (kept, F): kept = min(rows, F)
        self.singular, self.basis = singular[: self.rank], vt[: self.rank]
        axes = vt[: self.components].copy()  # (components, F)
        if self.axes is not None and self.axes.shape == axes.shape:
            signs = np.sign(np.sum(axes * self.axes, 1))  # (components,) keep the previous orientation
            axes = axes * np.where(signs == 0, 1.0, signs)[:, None]
        else:
            signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(1)])  # largest entry positive
            axes = axes * signs[:, None]
        self.axes = axes
        self.variance = singular[: self.components] ** 2 / max(self.n - 1, 1)
        return self

    def transform(self, rows: np.ndarray) -> np.ndarray:
        """(..., F) -> (..., components)."""
        if self.axes is None:
            raise RuntimeError("IncrementalPCA.transform before any partial_fit")
        rows = np.asarray(rows, np.float64)
        return ((rows - self.mean) @ self.axes.T).astype(np.float32)  # (..., components)


@dataclass
class MapPoints:
    """One report's steps on the map."""

    real: np.ndarray  # (T, 2) each real (posterior) step, in report order
    imagined: np.ndarray | None  # (M, H, 2) each imagined step; the futures branch from real[Tc - 1]
    branch_from: int  # Tc - 1: the real step the imagined futures start from
    real_returns: np.ndarray  # (T,) the report's imagined λ-return from each real step (colour by return)
    imagined_returns: np.ndarray | None  # (M, H) predicted return of each imagined step (value at the last one)


def report_features(report, imagination=None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(T, F) real and (M, H, F) imagined features of a report (None where an old report has none)."""
    imagination = imagination if imagination is not None else report.imagination
    return getattr(report, "features", None), getattr(imagination, "features", None)


def imagined_returns(imagination) -> np.ndarray:
    """(M, H) λ-return of each imagined step; the last step has none, so it takes its value."""
    returns = np.asarray(imagination.returns, np.float32)  # (M, H-1)
    values = np.asarray(imagination.values, np.float32)  # (M, H)
    return np.concatenate([returns, values[:, -1:]], 1)  # (M, H)


def map_points(pca: IncrementalPCA, report, imagination=None, fit: bool = True,
               project: bool = True) -> MapPoints | None:
    """Projects a report's real steps and its imagination (its own, or a re-imagination) on the map; with `fit`
    the PCA first takes in the report's real features (the imagination is shown, not fitted: dreams should not
    steer the axes); `project=False` only fits (the points returned are then the raw features). None for a report
    without features."""
    imagination = imagination if imagination is not None else report.imagination
    real, dreamed = report_features(report, imagination)
    if real is None:
        return None
    if fit:
        pca.partial_fit(real)
    if not project:
        return MapPoints(real, dreamed, int(report.context_len) - 1, np.asarray(report.returns), None)  # raw
    return MapPoints(
        real=pca.transform(real),
        imagined=pca.transform(dreamed) if dreamed is not None else None,
        branch_from=int(report.context_len) - 1,
        real_returns=np.asarray(report.returns, np.float32),
        imagined_returns=imagined_returns(imagination) if dreamed is not None else None)

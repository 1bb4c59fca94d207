"""The latent map (dreamer_core.latent_map): incremental PCA and one point per real and imagined report step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamer_core.latent_map import IncrementalPCA, map_points

torch.set_num_threads(1)


def test_incremental_pca_recovers_a_known_plane_batch_by_batch():
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.normal(size=(40, 2)))  # (F, 2) an orthonormal plane in 40-D
    coords = rng.normal(size=(600, 2)) * np.array([5.0, 2.0])  # (N, 2) wider along the first axis
    rows = coords @ basis.T + 3.0 + rng.normal(scale=0.01, size=(600, 40))  # (N, F) offset, slightly noisy
    pca = IncrementalPCA(2, rank=4)
    for chunk in np.array_split(rows, 12):  # reports arrive one by one
        pca.partial_fit(chunk)
    assert pca.n == 600
    np.testing.assert_allclose(pca.mean, rows.mean(0), atol=1e-9)
    # The axes lie in the plane (variance 25 along the first, 4 along the second), in order of variance.
    assert np.all(np.linalg.norm(pca.axes @ basis, axis=1) > 0.9999)
    assert np.abs(pca.axes @ basis)[0, 0] > 0.99
    np.testing.assert_allclose(pca.variance, [25.0, 4.0], rtol=0.15)
    # The same axes and points as a one-shot PCA of all rows at once (numpy's SVD), up to each axis's sign.
    _, sv, vt = np.linalg.svd(rows - rows.mean(0), full_matrices=False)
    np.testing.assert_allclose(np.abs(np.sum(pca.axes * vt[:2], 1)), 1.0, atol=1e-6)
    np.testing.assert_allclose(pca.variance, sv[:2] ** 2 / 599, rtol=1e-6)
    proj = pca.transform(rows)  # (N, 2)
    exact = (rows - rows.mean(0)) @ vt[:2].T  # (N, 2)
    np.testing.assert_allclose(np.abs(proj), np.abs(exact), atol=1e-3)

def test_axes_keep_their_orientation_as_reports_arrive():
    rng = np.random.default_rng(1)
    pca = IncrementalPCA(2)
    previous = None
    for _ in range(5):
        pca.partial_fit(rng.normal(size=(64, 10)) * np.arange(10, 0, -1))  # (N, F)
        if previous is not None:
            assert np.all(np.sum(pca.axes * previous, 1) > 0)  # never flipped
        previous = pca.axes.copy()


def test_map_points_match_the_reports_real_and_imagined_steps(tmp_path):
    from dreamer_core.config import make_config
    from dreamer_core.trainer import Trainer

    trainer = Trainer(make_config("dummy_disc", "vision", "debug", {"run": {"device": "cpu"}}), tmp_path)
    try:
        while trainer.report() is None:
            trainer.step()
        report = trainer.report(samples=2, horizon=5)
    finally:
        trainer.close()
    length, ctx = len(report.rewards), report.context_len
    assert report.features.shape[0] == length and report.features.dtype == np.float32
    assert report.imagination.features.shape == (2, 5, report.features.shape[1])
    pca = IncrementalPCA(2)
    points = map_points(pca, report)
    assert pca.n == length  # fitted on the real steps only
    assert points.real.shape == (length, 2) and points.imagined.shape == (2, 5, 2)  # one point per step
    assert points.branch_from == ctx - 1
    np.testing.assert_allclose(points.real, pca.transform(report.features), atol=1e-6)
    assert points.real_returns.shape == (length,) and points.imagined_returns.shape == (2, 5)
    np.testing.assert_allclose(points.imagined_returns[:, :-1], report.imagination.returns)
    # The imagination's first step follows the start state, which is the real step at the end of the context.
    np.testing.assert_allclose(report.start.feat()[0].numpy(), report.features[ctx - 1], atol=1e-5)
    # An old report without features has no map (and does not break it).
    report.features = None
    assert map_points(pca, report) is None and pca.n == length


def test_transform_before_fit_says_so():
    with pytest.raises(RuntimeError, match="before any partial_fit"):
        IncrementalPCA().transform(np.zeros((3, 4)))

"""The hallucination signal (dreamer_core.confidence): the spread of the futures imagined from one start (the
strip's signal), the re-encoding KL every report carries, and the statistics that compare them with the error."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from dreamer_core import confidence, play
from dreamer_core.config import make_config
from dreamer_core.envs import make_env
from dreamer_core.replay import Replay
from dreamer_core.report import Report, make_report, openloop_ensemble
from dreamer_core.rssm import Latent

torch.set_num_threads(1)


def _agent_and_window(task="dummy_disc", obs="vision"):
    config = make_config(task, obs, "debug", {"run": {"device": "cpu"}})
    env = make_env(config.env, 0)
    torch.manual_seed(0)
    agent = play.player_agent(config, env.obs_space, env.act_space)
    # A replay-like window of (1, 1 + L, ...): the policy's steps in the env, stored latents of zeros.
    steps, obs_t = [], env.step(None, True)
    n = env.act_space.shape[0]
    for t in range(1 + 12):
        action = np.eye(n, dtype=np.float32)[t % n] if env.act_space.discrete else np.zeros(n, np.float32)
        steps.append({**obs_t, "action": action})
        obs_t = env.step(action, False)
    env.close()
    window = {k: np.stack([s[k] for s in steps])[None] for k in steps[0]}
    window["deter"] = np.zeros((1, 13, config.model.deter), np.float32)
    window["stoch"] = np.zeros((1, 13, config.model.stoch, config.model.classes), np.float32)
    return agent, window


def test_the_spread_is_the_unbiased_variance_across_futures_per_step_on_a_case_with_a_known_answer():
    frames = np.zeros((4, 3, 2, 2, 3), np.uint8)  # (M, H, h, w, 3)
    frames[2:, 1] = 10  # step 2: two futures at 0, two at 10, every pixel: variance (4 · 5²) / 3
    frames[0, 2, 0, 0, 0] = 12  # step 3: one value of the 12 per frame differs in one future: (12² · 3/4) / 3 / 12
    spread = confidence.spread(frames)
    assert spread.shape == (3,) and spread.dtype == np.float32
    np.testing.assert_allclose(spread, [0.0, 100 / 3, 3.0], rtol=1e-6)
    assert confidence.spread(frames[:1]) is None and confidence.spread(None) is None  # nothing to disagree
    # Unbiased: two futures 0 and 10 apart have variance 50, whatever else the frame holds.
    pair = np.stack([np.full((1, 2, 2, 3), 100, np.uint8), np.full((1, 2, 2, 3), 110, np.uint8)])
    np.testing.assert_allclose(confidence.spread(pair), [50.0])
    # Flags: over THRESHOLD, never NaN.
    np.testing.assert_array_equal(confidence.flagged(np.array([confidence.THRESHOLD, confidence.THRESHOLD + 1e-3,
                                                                np.nan])), [False, True, False])


def test_the_vector_spread_scales_each_dimension_by_the_real_vectors_spread_on_a_case_with_a_known_answer():
    # Real vectors (T=4, V=2): dimension 0 takes 0, 2, 0, 2 (std 1), dimension 1 takes 0, 20, 0, 20 (std 10).
    real = np.array([[0, 0], [2, 20], [0, 0], [2, 20]], np.float32)
    mean, scale = confidence.vector_scale(real)
    np.testing.assert_allclose(mean, [1, 10])
    np.testing.assert_allclose(scale, [1, 10])
    vectors = np.zeros((3, 2, 2), np.float32)  # (M, H, V)
    vectors[:, 0, 0] = [0, 1, 2]  # step 1: dimension 0 varies by 1 (unbiased) in its unit of 1, dimension 1 agrees
    vectors[:, 1, 1] = [0, 10, 20]  # step 2: dimension 1 varies by 100 = 1 in its unit of 10, dimension 0 agrees
    np.testing.assert_allclose(confidence.vector_spread(vectors, real), [0.5, 0.5], rtol=1e-6)
    vectors[:, 1, 0] = [0, 2, 4]  # step 2, dimension 0 now varies by 4 too: (4 + 1) / 2
    spread = confidence.vector_spread(vectors, real)
    assert spread.shape == (2,) and spread.dtype == np.float32
    np.testing.assert_allclose(spread, [0.5, 2.5], rtol=1e-6)
    assert confidence.vector_spread(vectors[:1], real) is None and confidence.vector_spread(None, real) is None
    # A constant real dimension is floored, not divided by zero; the error uses the same scale.
    assert np.isfinite(confidence.vector_spread(vectors, np.zeros((4, 2)))).all()
    error = confidence.vector_error(np.array([[1, 10], [3, 0]]), np.array([[0, 0], [1, 0]]), real)  # (H, V)
    np.testing.assert_allclose(error, [(1 + 1) / 2, (4 + 0) / 2], rtol=1e-6)


def test_the_open_loop_distance_is_zero_for_identical_futures_and_the_square_of_a_known_offset():
    openloop = np.full((3, 2, 2, 3), 100, np.uint8)  # (H, h, w, 3)
    futures = np.repeat(openloop[None], 4, 0)  # (M, H, h, w, 3): every future the open loop itself
    distance = confidence.openloop_distance(futures, openloop)
    assert distance.shape == (3,) and distance.dtype == np.float32
    np.testing.assert_array_equal(distance, [0, 0, 0])
    futures[:, 1] += 5  # step 2: every future 5 brighter everywhere: 5²
    futures[0, 2, 0, 0, 0] = 112  # step 3: one value of 12 off by 12 in one of 4 futures: 12² / 12 / 4
    np.testing.assert_allclose(confidence.openloop_distance(futures, openloop), [0, 25, 3], rtol=1e-6)
    assert confidence.openloop_distance(None, openloop) is None
    # Vectors: each dimension divided by its scale before squaring, mean over dimensions, then over the futures.
    line = np.zeros((2, 2), np.float32)  # (H, V)
    vectors = np.zeros((2, 2, 2), np.float32)  # (M, H, V)
    vectors[0, 1] = [2, 30]  # future 1, step 2: (2/1)² and (30/10)²
    np.testing.assert_allclose(confidence.openloop_vector_distance(vectors, line, np.array([1.0, 10.0])),
                               [0, (4 + 9) / 2 / 2], rtol=1e-6)


def test_the_replay_scale_is_the_spread_of_every_stored_real_vector_of_every_worker():
    replay = Replay({"a": ((1,), np.float32), "b": ((2,), np.float32)}, capacity=8, length=1, workers=2)
    assert confidence.replay_vector_scale(replay, ["a", "b"]) is None  # nothing stored yet
    for t in range(6):  # worker 0 stores 6 steps in its 4 rows: the ring keeps its newest 4
        replay.add({"a": [float(t)], "b": [0.0, 10.0 * (t % 2)]}, 0)
    replay.add({"a": [100.0], "b": [0.0, 0.0]}, 1)
    a = np.array([4.0, 5.0, 2.0, 3.0, 100.0])  # the rows held: worker 0's steps 2..5, worker 1's one
    b1 = np.array([0.0, 10.0, 0.0, 10.0, 0.0])
    np.testing.assert_allclose(confidence.replay_vector_scale(replay, ["a", "b"]), [a.std(), 1e-6, b1.std()])
    np.testing.assert_allclose(confidence.replay_vector_scale(replay, ["a", "b"], most=2)[0],
                               np.array([4.0, 2.0, 100.0]).std())  # strided to every second stored row
    assert confidence.replay_vector_scale(replay, []) is None


def test_every_report_carries_the_open_loops_signal_from_its_own_futures_under_the_true_actions():
    agent, window = _agent_and_window()
    report = make_report(agent, window, seed=5, samples=3)
    horizon = len(report.openloop)
    assert report.openloop_signal.shape == (horizon,) and report.openloop_signal.dtype == np.float32
    assert np.isfinite(report.openloop_signal).all() and report.openloop_signal[-1] > 0
    k = agent.config.train.replay_context
    actions = torch.as_tensor(window["action"][0, k + report.context_len - 1 : k + len(report.rewards) - 1])
    ensemble = openloop_ensemble(agent, report.start, actions, 5, 3)
    assert ensemble.frames.shape[:2] == (3, horizon) and not np.array_equal(ensemble.frames[0], report.openloop)
    np.testing.assert_array_equal(report.openloop_signal, confidence.openloop_distance(ensemble.frames,
                                                                                        report.openloop))
    np.testing.assert_array_equal(make_report(agent, window, seed=5, samples=3).openloop_signal,
                                  report.openloop_signal)  # deterministic for a seed
    assert not np.array_equal(make_report(agent, window, seed=6, samples=3).openloop_signal, report.openloop_signal)
    assert report.imagined_recheck is None and report.imagination.recheck is None  # not computed by default


def test_a_vector_models_open_loop_signal_is_on_the_replays_scale_and_absent_without_a_replay():
    agent, window = _agent_and_window("dummy_cont", "proprio")
    assert make_report(agent, window, samples=2).openloop_signal is None  # no fixed scale to measure it on
    keys = sorted(agent.vector_dims)
    stream = {key: window[key][0] for key in keys}  # (L, d) each: a replay holding this window's real vectors
    replay = Replay({key: (v.shape[1:], v.dtype) for key, v in stream.items()}, capacity=64, length=1)
    for t in range(len(window["is_first"][0])):
        replay.add({key: v[t] for key, v in stream.items()})
    report = make_report(agent, window, seed=2, samples=2,
                         vector_scale=confidence.replay_vector_scale(replay, keys))
    horizon = len(report.openloop_vectors)
    assert report.openloop is None and report.openloop_signal.shape == (horizon,)
    k = agent.config.train.replay_context
    actions = torch.as_tensor(window["action"][0, k + report.context_len - 1 : k + len(report.rewards) - 1])
    ensemble = openloop_ensemble(agent, report.start, actions, 2, 2)
    scale = confidence.vector_scale(np.concatenate([stream[key] for key in keys], -1))[1]  # (V,)
    np.testing.assert_allclose(report.openloop_signal, confidence.openloop_vector_distance(
        ensemble.vectors, report.openloop_vectors, scale), rtol=1e-6)
    assert report.openloop_signal[-1] > 0


def test_every_report_carries_what_the_spread_needs_and_it_lands_on_the_imagined_steps_of_the_timeline():
    agent, window = _agent_and_window()
    report = make_report(agent, window, samples=3)
    frames = report.imagination.frames  # (M, H, h, w, 3): the dreams the strip shows
    horizon = frames.shape[1]
    spread = confidence.spread(frames)
    assert spread.shape == (horizon,) and np.isfinite(spread).all() and (spread >= 0).all()
    by_hand = frames.astype(np.float64).var(0, ddof=1).mean((1, 2, 3))
    np.testing.assert_allclose(spread, by_hand, rtol=1e-5)
    assert spread[-1] > 0  # a random debug model's sampled futures do differ
    line = confidence.timeline(report, spread, report.context_len + horizon)
    np.testing.assert_array_equal(line[report.context_len:], spread)
    # The same seed gives the same futures, so the same spread (the strip is reproducible).
    again = make_report(agent, window, samples=3)
    np.testing.assert_array_equal(confidence.spread(again.imagination.frames), spread)


def test_a_report_asked_for_it_carries_a_finite_recheck_per_imagined_step_for_the_open_loop_and_each_future():
    agent, window = _agent_and_window()
    assert make_report(agent, window, samples=3).imagined_recheck is None  # the app's reports skip it
    report = make_report(agent, window, samples=3, recheck=True)
    horizon = len(report.rewards) - report.context_len
    assert report.imagined_recheck.shape == (3 + 1, horizon) and report.imagined_recheck.dtype == np.float32
    assert np.isfinite(report.imagined_recheck).all() and (report.imagined_recheck >= -1e-5).all()
    np.testing.assert_array_equal(report.imagined_recheck[1:], report.imagination.recheck)
    # A longer horizon for the futures than the open loop has: the open-loop row is NaN-padded.
    longer = make_report(agent, window, samples=2, horizon=horizon + 3, recheck=True)
    assert longer.imagined_recheck.shape == (3, horizon + 3)
    assert np.isnan(longer.imagined_recheck[0, horizon:]).all() and np.isfinite(longer.imagined_recheck[1:]).all()


def test_the_signal_is_the_kl_of_the_reencoded_posterior_zero_when_the_prior_agrees_larger_when_corrupted():
    agent, _ = _agent_and_window()
    gen = np.random.default_rng(0)
    deter = torch.as_tensor(gen.normal(size=(10, agent.config.model.deter)), dtype=torch.float32)
    prior = agent.rssm.prior(deter)  # (10, S, C)
    stoch = torch.nn.functional.one_hot(prior.argmax(-1), prior.shape[-1]).float()
    states = Latent(deter, stoch)
    true = confidence.reencode_kl(agent, states)
    assert true.shape == (10,) and torch.isfinite(true).all()
    torch.testing.assert_close(true, confidence.reencode_kl(agent, states, prior))  # default prior = p(z | h)
    # The posterior of the decoded, uint8-quantised frame, by hand: a prior equal to it scores 0 (a consistent
    # decoder + encoder), and the further the prior moves from it, the higher the signal.
    with torch.no_grad():
        image = agent.decoder(deter, stoch.flatten(-2))["image"]
        token = agent.encoder({"image": (image.clamp(0, 1) * 255 + 0.5).to(torch.uint8)})
        post = agent.rssm.posterior(deter, token)  # (10, S, C)
    assert confidence.reencode_kl(agent, states, post).abs().max() < 1e-5
    rolled = torch.roll(post, 1, dims=-1)  # the mass moved to other classes
    peaked = torch.log_softmax(rolled * 5.0, -1)  # and sharpened there
    a, b = confidence.reencode_kl(agent, states, rolled), confidence.reencode_kl(agent, states, peaked)
    assert (a > 1e-3).all() and (b > a).all()
    # The check reads the decoded frame: another z (another frame) at the same h gives another posterior.
    other = Latent(deter, torch.roll(stoch, 1, dims=-1))
    assert not torch.allclose(confidence.reencode_kl(agent, other, post), torch.zeros(10), atol=1e-4)


def test_proprio_reports_recheck_vectors_and_old_reports_still_work():
    agent, window = _agent_and_window("dummy_cont", "proprio")
    report = make_report(agent, window, samples=2, recheck=True)
    assert report.imagined_recheck.shape[0] == 3 and np.isfinite(report.imagined_recheck).all()
    old = dataclasses.replace(report, imagined_recheck=None, openloop_signal=None)  # from before the fields existed
    assert Report.imagined_recheck is None and Report.openloop_signal is None  # the defaults old reports fall back to
    line = confidence.timeline(old, None, len(old.rewards) + 2)
    ctx = old.context_len
    np.testing.assert_allclose(line[:ctx], old.kl[:ctx].sum(-1), rtol=1e-6)  # observed: the report's KL
    assert np.isnan(line[ctx:]).all()  # nothing known past the context without the field


def test_timeline_and_flags():
    agent, window = _agent_and_window()
    report = make_report(agent, window, samples=1)
    dream = np.array([0.5, 9.0, np.nan, 4.0], np.float32)
    line = confidence.timeline(report, dream, report.context_len + 4)
    np.testing.assert_array_equal(line[report.context_len:], dream)
    np.testing.assert_array_equal(confidence.flagged(dream, 3.0), [False, True, False, True])
    assert abs(confidence.pearson(np.arange(5.0), 2 * np.arange(5.0) + 1) - 1) < 1e-9
    assert np.isnan(confidence.pearson(np.ones(5), np.arange(5.0)))


def test_the_evaluation_statistics_on_a_synthetic_case_with_known_answers():
    # Ranks: ties share their average rank; Spearman is the Pearson of ranks (monotone -> 1, reversed -> -1).
    np.testing.assert_array_equal(confidence.ranks(np.array([3.0, 1.0, 3.0, 2.0])), [2.5, 0.0, 2.5, 1.0])
    x = np.array([0.1, 5.0, 2.0, 40.0, 3.0])
    assert abs(confidence.spearman(x, np.exp(x)) - 1) < 1e-12 and abs(confidence.spearman(x, -x) + 1) < 1e-12
    assert abs(confidence.spearman([1.0, 2.0, np.nan, 4.0, 3.0], [1.0, 2.0, 9.0, 3.0, 4.0]) - 0.8) < 1e-12
    # Error = step + noise; signal A = step + its own noise (it only knows the step), signal B = the error's noise
    # (it knows what the step does not). Both correlate with the error, but only B survives holding the step fixed.
    gen = np.random.default_rng(0)
    step = np.broadcast_to(np.arange(16.0), (200, 16))  # (windows, H)
    noise = gen.normal(size=step.shape)
    error = step + 4 * noise
    knows_step, knows_noise = step + 4 * gen.normal(size=step.shape), noise
    assert confidence.spearman(knows_step, error) > 0.3 and confidence.spearman(knows_noise, error) > 0.5
    assert abs(confidence.partial_spearman(knows_step, error, step)) < 0.05
    assert confidence.partial_spearman(knows_noise, error, step) > 0.8
    assert abs(confidence.within_step_spearman(knows_step, error)) < 0.05
    assert confidence.within_step_spearman(knows_noise, error) > 0.95
    # The partial correlation by its formula on the ranks.
    r = [confidence.pearson(confidence.ranks(a), confidence.ranks(b))
         for a, b in ((knows_noise, error), (knows_noise, step), (error, step))]
    expected = (r[0] - r[1] * r[2]) / np.sqrt((1 - r[1] ** 2) * (1 - r[2] ** 2))
    assert abs(confidence.partial_spearman(knows_noise, error, step) - expected) < 1e-12


def test_flag_scores_and_the_best_f1_rule_by_hand():
    signal = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, np.nan, 0.9])
    high = np.array([0, 0, 0, 0, 0, 1, 0, 1, 1, 1], bool)
    s = confidence.flag_scores(signal, high, 0.55)  # flags 0.6..0.9 (4 of 10; NaN never flags)
    assert s["flagged"] == 0.4 and s["precision"] == 0.75 and s["recall"] == 0.75 and abs(s["f1"] - 0.75) < 1e-12
    none = confidence.flag_scores(signal, high, 5.0)
    assert none["flagged"] == 0 and np.isnan(none["precision"]) and none["recall"] == 0 and none["f1"] == 0
    # Over every cut between observed values: cut at 0.75 flags 0.8, 0.9 (both high): P 1, R 0.5, F1 2/3;
    # cut at 0.55: F1 0.75; cut at 0.65 flags 0.7..0.9: P 2/3, R 0.5, F1 4/7. The best is 0.55.
    best = confidence.best_f1_threshold(signal, high)
    assert abs(best["threshold"] - 0.55) < 1e-6 and abs(best["f1"] - 0.75) < 1e-12
    capped = confidence.best_f1_threshold(signal, high, max_flagged=0.25)  # at most 2 of 10 flagged
    assert abs(capped["threshold"] - 0.75) < 1e-6 and capped["precision"] == 1.0


def test_the_window_bootstrap_interval_resamples_whole_windows():
    gen = np.random.default_rng(1)
    error = gen.normal(size=(40, 16))  # (windows, H)
    exact = confidence.window_interval(confidence.spearman, 2 * error + 1, error, draws=200)
    np.testing.assert_allclose(exact, [1.0, 1.0], atol=1e-12)  # a monotone signal ranks every resample perfectly
    low, high = confidence.window_interval(confidence.spearman, gen.normal(size=error.shape), error, draws=200)
    assert low < 0 < high and high - low < 0.3  # independent: around 0, and 640 steps pin it down
    # Whole windows travel together: a signal that is one constant per window, equal to that window's mean error,
    # keeps a clearly positive correlation in every resample.
    per_window = np.repeat(error.mean(1, keepdims=True), 16, 1)
    assert confidence.window_interval(confidence.spearman, per_window, error, draws=200)[0] > 0

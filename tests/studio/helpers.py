"""Shared helpers for the studio tests."""

from __future__ import annotations


def debug_config(task: str = "dummy_disc", obs: str = "vision", **run):
    from dreamer_core.config import make_config

    return make_config(task, obs, "debug", {"run": {"device": "cpu", **run}})

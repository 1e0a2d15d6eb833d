"""`hybridctl status --dashboard failover --refresh N` against the local stack over real HTTP: the failover
view (weights, rollout, breakers, health, active alarms) redrawn every N seconds, --count refreshes or
Ctrl-C, one JSON line per refresh with --json."""

from __future__ import annotations

import json
import time

import pytest

from cli.hybridctl import dashboard

pytestmark = pytest.mark.usefixtures("clean_control_plane")


def test_the_failover_view_refreshes_count_times_every_refresh_seconds_with_the_current_weights(ctl) -> None:
    # Given weights set through the admin API
    code, _, err = ctl("config", "set", "--traffic-distribution", "bedrock:70,google:30", "--reason", "drill")
    assert code == 0, err
    # When the failover view runs for two refreshes, 0.3 s apart
    started = time.monotonic()
    code, out, err = ctl("status", "--dashboard", "failover", "--refresh", "0.3", "--count", "2")
    took = time.monotonic() - started
    # Then two frames were drawn, one refresh apart, each with the weights, the rollout, breakers and providers
    assert code == 0, err
    frames = [f for f in out.split("hybridctl failover dashboard") if f.strip()]
    assert len(frames) == 2 and 0.3 <= took < 5
    for frame in frames:
        assert "weights:" in frame and "bedrock:70,google:30" in frame
        assert "rollout:" in frame and "circuit breakers:" in frame and "active alarms:" in frame
        assert all(provider in frame for provider in ("bedrock", "google", "meta", "mcp"))


def test_json_gives_one_line_per_refresh_with_the_failover_state(ctl) -> None:
    code, out, err = ctl("status", "--dashboard", "failover", "--refresh", "0.05", "--count", "3", "--json")
    assert code == 0, err
    samples = [json.loads(line) for line in out.splitlines()]
    assert len(samples) == 3
    for sample in samples:
        assert set(sample) >= {"at", "status", "providers", "weights", "rollouts", "alerts", "circuitBreakersEnabled"}
        assert {p["provider"] for p in sample["providers"]} == {"bedrock", "google", "meta", "mcp"}
        assert sum(sample["weights"].values()) == 100


def test_ctrl_c_stops_the_view_cleanly(ctl, monkeypatch) -> None:
    # Given an operator pressing Ctrl-C while the view waits for its next refresh
    def interrupted(_seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(dashboard.time, "sleep", interrupted)
    # When the view runs without --count / Then it stops with exit 0 after the frame it drew
    code, out, _ = ctl("status", "--dashboard", "failover", "--refresh", "10")
    assert code == 0
    assert out.count("hybridctl failover dashboard") == 1
    assert "failover dashboard stopped after 1 refresh(es)" in out

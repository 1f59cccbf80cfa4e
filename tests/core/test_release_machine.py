"""The release's pure decisions (`release_machine.decide`) and the `releases:` settings, with no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from bluegreen import config
from bluegreen.errors import ConfigError
from bluegreen.model import Actor
from bluegreen.release_machine import current_wave, decide, finish
from bluegreen.release_record import EnvState, ReleaseRecord, ReleaseStatus, release_from_dict, release_to_dict
from bluegreen.settings import ReleaseSettings

WAVES = (("staging",), ("us", "eu", "ap"))


def release(**changes: Any) -> ReleaseRecord:
    rel = ReleaseRecord(
        id="all.1",
        name="all",
        version="v2",
        waves=WAVES,
        parallelism=0,
        on_failure="rollback-wave",
        promotion="auto",
        started_by=Actor("ada"),
        created_at=0.0,
        updated_at=0.0,
    )
    return rel.replace(**changes)


def with_states(rel: ReleaseRecord, **states: EnvState) -> ReleaseRecord:
    for env, state in states.items():
        rel = rel.with_entry(env, state=state)
    return rel


S, R, F, P = EnvState.SUCCEEDED, EnvState.RUNNING, EnvState.FAILED, EnvState.PENDING


def test_the_first_wave_starts_first_and_alone() -> None:
    nxt = decide(release())
    assert (nxt.wave, nxt.start, nxt.finished) == (0, ("staging",), None)
    assert decide(with_states(release(), staging=R)).start == ()


def test_the_next_wave_starts_whole_once_the_previous_succeeded() -> None:
    assert decide(with_states(release(), staging=S)).start == ("us", "eu", "ap")


def test_parallelism_limits_how_many_run_at_once() -> None:
    rel = with_states(release(parallelism=2), staging=S)
    assert decide(rel).start == ("us", "eu")
    assert decide(with_states(rel, us=R, eu=R)).start == ()
    assert decide(with_states(rel, us=S, eu=R)).start == ("ap",)


def test_every_wave_succeeded_is_the_release_succeeded() -> None:
    rel = with_states(release(), staging=S, us=S, eu=S, ap=S)
    assert current_wave(rel) == 2 and decide(rel).finished is ReleaseStatus.SUCCEEDED


def test_a_manual_release_waits_at_the_gate_until_promoted() -> None:
    rel = with_states(release(promotion="manual"), staging=S)
    assert decide(rel).gate and decide(rel).start == ()
    assert decide(rel.replace(promoted=(1,))).start == ("us", "eu", "ap")
    assert not decide(release(promotion="manual")).gate  # no gate before the first wave


def test_a_failure_rolls_back_the_rest_of_the_wave_and_stops() -> None:
    rel = with_states(release(parallelism=2), staging=S, us=F, eu=R)
    nxt = decide(rel)
    assert nxt.abort == ("eu",) and nxt.start == () and nxt.finished is None
    done = decide(with_states(rel, eu=EnvState.ABORTED))
    assert done.finished is ReleaseStatus.FAILED and done.skip == ("ap",)


def test_finish_wave_lets_the_wave_run_to_its_end_but_starts_no_later_wave() -> None:
    rel = with_states(release(parallelism=2, on_failure="finish-wave"), staging=S, us=F, eu=R)
    assert decide(rel).abort == () and decide(rel).start == ("ap",)
    assert decide(with_states(rel, eu=S, ap=S)).finished is ReleaseStatus.FAILED
    first = with_states(release(on_failure="finish-wave"), staging=F)
    assert decide(first).finished is ReleaseStatus.FAILED and decide(first).skip == ("us", "eu", "ap")


def test_an_abort_aborts_every_environment_in_flight_and_starts_none() -> None:
    rel = with_states(release(abort_requested="5xx"), staging=S, us=R, eu=R)
    assert decide(rel).abort == ("us", "eu") and decide(rel).start == ()
    ended = decide(with_states(rel, us=EnvState.ABORTED, eu=S))
    assert ended.finished is ReleaseStatus.ABORTED and ended.skip == ("ap",)


def test_finish_marks_the_never_started_skipped_and_says_how_many_succeeded() -> None:
    rel = with_states(release(), staging=S, us=F, eu=EnvState.ABORTED)
    out = finish(rel, decide(rel), now=5.0)
    assert out.status is ReleaseStatus.FAILED and out.entry("ap").state is EnvState.SKIPPED
    assert out.events[-1].message == "release all failed: 1/4 environments on v2"
    assert decide(out).finished is ReleaseStatus.FAILED  # terminal stays terminal


def test_the_record_survives_its_json() -> None:
    rel = with_states(release(promoted=(1,), split=True), staging=S).with_event(1.0, "x", "y")
    assert release_from_dict(release_to_dict(rel)) == rel


# -- the settings ---------------------------------------------------------------------

ENVS = {name: {"platform": "simulated"} for name in ("staging", "prod-us", "prod-eu")}


def parse(rel: Any) -> Any:
    return config.parse({"environments": ENVS, "releases": {"all-prod": rel}})


def test_releases_load_with_their_defaults() -> None:
    cfg = parse({"waves": [["staging"], ["prod-us", "prod-eu"]]})
    assert cfg.release("all-prod") == ReleaseSettings(name="all-prod", waves=(("staging",), ("prod-us", "prod-eu")))
    assert cfg.release("staging") is None


@pytest.mark.parametrize(
    ("body", "key", "what"),
    [
        ({"waves": [["staging"], ["prod-uk"]]}, "releases.all-prod.waves[1][0]", "no environment named 'prod-uk'"),
        ({"waves": [["staging"], ["staging"]]}, "releases.all-prod.waves[1][0]", "already in"),
        ({"waves": [["staging", "staging"]]}, "releases.all-prod.waves[0][1]", "already in"),
        ({"waves": [["staging"], []]}, "releases.all-prod.waves[1]", "is an empty wave"),
        ({"waves": [["staging"]], "parallelism": 0}, "releases.all-prod.parallelism", "out of range"),
        ({"waves": []}, "releases.all-prod.waves", "is required"),
        ({"waves": [["staging"]], "on_failure": "panic"}, "releases.all-prod.on_failure", "not one of"),
        ({"waves": [["staging"]], "when_locked": "queue"}, "releases.all-prod.when_locked", "not one of"),
    ],
)
def test_bad_releases_name_the_key(body: Any, key: str, what: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse(body)
    assert e.value.what.startswith(key) and what in e.value.what, e.value.what


def test_a_release_may_not_share_an_environments_name() -> None:
    with pytest.raises(ConfigError, match="also an environment's name"):
        config.parse({"environments": ENVS, "releases": {"staging": {"waves": [["prod-us"]]}}})

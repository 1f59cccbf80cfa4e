"""The settings: defaults and keys come from the dataclasses; the loader adds nothing of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from bluegreen import config
from bluegreen.errors import ConfigError, ConfigErrors
from bluegreen.settings import AwsSettings, Environment, LoadBalancer, StateSettings, TrafficSettings, keys


def test_an_environment_with_nothing_set_is_the_dataclass_defaults() -> None:
    cfg = config.parse({"environments": {"web": {"platform": "simulated"}}}, path="/srv/app/bluegreen.yaml")
    assert cfg.environment("web") == Environment(name="web", platform="simulated")
    assert cfg.aws == AwsSettings()
    assert cfg.state == StateSettings(path=Path("/srv/app") / StateSettings().path)


def test_allowed_keys_are_the_fields() -> None:
    assert keys(TrafficSettings) == ("strategy", "steps", "step", "every", "check_every", "readback_retries")
    assert "name" not in keys(Environment) and "bake_time" in keys(Environment)
    with pytest.raises(ConfigError, match="allowed keys here: type, listener_port, test_listener_port") as e:
        config.parse({"environments": {"web": {"platform": "simulated", "load_balancer": {"kind": "alb"}}}})
    assert "environments.web.load_balancer.kind" in e.value.what


def test_a_classic_elb_moves_traffic_all_at_once_only() -> None:
    assert LoadBalancer(type="elb").allows("all-at-once") and not LoadBalancer(type="elb").allows("canary")
    assert LoadBalancer(type="alb").allows("canary")


def test_every_problem_is_reported_not_only_the_first() -> None:
    body = {"platform": "azure", "promotion": "sometimes", "traffic": {"strategy": "linear"}}
    with pytest.raises(ConfigErrors) as e:
        config.parse({"environments": {"web": body}})
    assert [p.what.split(":")[0] for p in e.value.problems] == [
        "environments.web.platform",
        "environments.web.traffic.step",
        "environments.web.promotion",
    ]


@pytest.mark.parametrize(
    ("period", "seconds"), [("1s", 1), ("5s", 5), ("10s", 10), ("30s", 30), ("60s", 60), ("5m", 300)]
)
def test_a_metric_period_is_one_cloudwatch_allows(period: str, seconds: float) -> None:
    metrics = {"period": period, "publication_lag": "2s"}
    env = config.parse({"environments": {"web": {"platform": "simulated", "metrics": metrics}}}).environment("web")
    assert (env.metrics.period_s, env.metrics.publication_lag_s) == (seconds, 2)


@pytest.mark.parametrize("period", ["7s", "90s", "0s"])
def test_a_metric_period_cloudwatch_does_not_allow_is_a_config_error(period: str) -> None:
    with pytest.raises(ConfigError, match="is not a CloudWatch period") as e:
        config.parse({"environments": {"web": {"platform": "simulated", "metrics": {"period": period}}}})
    assert "environments.web.metrics.period" in e.value.what

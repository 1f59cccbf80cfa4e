"""The typed settings of bluegreen.yaml: one dataclass per section, each field's default the only one.

A YAML key is its field's name without the `_s` of a duration (`bake_time`
for `bake_time_s`), unless the field says otherwise in its metadata
(`key`: another name, or None when it is not a key of the file). `keys(cls)`
lists a section's keys from its fields, so the loader's allowed keys cannot
drift from the settings. Loading and checking them is `bluegreen.config`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from bluegreen.errors import ConfigError

DEFAULT_CONFIG = "bluegreen.yaml"
PLATFORMS = ("aws", "local", "simulated")
ALL_AT_ONCE = "all-at-once"
STRATEGIES = (ALL_AT_ONCE, "canary", "linear")
PROMOTIONS = ("auto", "manual")
GATE_POSITIONS = ("before-full", "after-last-step")
LB_TYPES = ("alb", "elb")
BACKENDS = ("sqlite", "dynamodb")
ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{0,27}$")
APP_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")  # an environment variable the app reads
SECRET_SOURCES = ("ssm", "secretsmanager")
METRIC_KINDS = ("latency", "count")  # latency-like: a distribution of values; count-like: errors over requests
DIRECTIONS = ("higher", "lower", "either")  # which way is worse
ANALYSIS_ACTIONS = ("pause", "rollback")  # marginal; inconclusive also takes "continue"
INCONCLUSIVE_ACTIONS = ("pause", "rollback", "continue")
ALB_NAMESPACE = "AWS/ApplicationELB"
ON_FAILURE = ("rollback-wave", "finish-wave")  # a release's wave when one of its environments fails
WHEN_LOCKED = ("fail", "wait")  # a release's environment held by another deployment


@dataclass(frozen=True)
class HealthCheck:
    path: str = "/health"
    interval_s: float = 15.0
    timeout_s: float = 5.0
    healthy_threshold: int = 2
    unhealthy_threshold: int = 10
    deadline_s: float = 600.0  # how long a new colour may take to turn healthy
    poll_s: float = 0.0  # 0: poll every `interval_s`


@dataclass(frozen=True)
class CanaryStep:
    weight: int
    wait_s: float


@dataclass(frozen=True)
class TrafficSettings:
    strategy: str = ALL_AT_ONCE
    steps: tuple[CanaryStep, ...] = ()  # canary
    linear_step: int = field(default=0, metadata={"key": "step"})  # linear: percent per step
    linear_every_s: float = field(default=60.0, metadata={"key": "every"})
    check_every_s: float = 10.0  # how often alarms/abort are looked at during a hold
    readback_retries: int = 3


@dataclass(frozen=True)
class SmokeCheck:
    path: str
    status: int = 200
    contains: str = ""
    timeout_s: float = 5.0


@dataclass(frozen=True)
class Capacity:
    min: int = 1
    max: int = 2
    desired: int = 1
    instance_type: str = "t3.micro"


@dataclass(frozen=True)
class LoadBalancer:
    type: str = "alb"
    listener_port: int = 80
    test_listener_port: int = 8080
    # Production on https_port with this ACM certificate, listener_port redirecting there; empty: HTTP only.
    certificate_arn: str = ""
    https_port: int = 443
    internal: bool = False  # private addresses only
    ingress_cidrs: tuple[str, ...] = ("0.0.0.0/0",)  # who may reach production
    test_cidrs: tuple[str, ...] = ()  # who may reach the test listener (the unreleased colour): never the public
    deletion_protection: bool = True  # alb; the sandbox's config turns it off
    access_logs_bucket: str = ""  # S3 bucket for access logs; empty: none
    access_logs_prefix: str = ""  # empty: the environment's name

    def allows(self, strategy: str) -> bool:
        """A classic ELB has no weighted routing: it moves traffic all at once, nothing else."""
        return self.type != "elb" or strategy == ALL_AT_ONCE


@dataclass(frozen=True)
class BakeSettings:
    template: str = ""  # empty: the template bluegreen ships (bluegreen/resources.py)
    source_ami: str = ""
    source_paths: tuple[str, ...] = ()  # files whose content makes the source hash
    instance_type: str = "t3.micro"
    artifact: str = ""  # the app installed into the image (file or directory); empty: `local.app`
    variables: Mapping[str, str] = field(default_factory=dict)  # more -var values for the template


@dataclass(frozen=True)
class MetricThresholds:
    max_5xx: int | None = None
    max_response_time_s: float | None = None
    # How the load balancer's metrics reach CloudWatch: ALB and classic ELB publish one datapoint per
    # 60 s period, about a minute after it closes (the sandbox can be told to be faster: its config says).
    publication_lag_s: float = 60.0
    period_s: float = 60.0

    @property
    def any(self) -> bool:
        return self.max_5xx is not None or self.max_response_time_s is not None


@dataclass(frozen=True)
class AnalysisMetric:
    """One metric the canary analysis compares between the new and the old colour.

    latency-like: `metric` with `statistic` (Average, p99, ...) or a metric math
    `expression` (`{TargetGroup}` and `{LoadBalancer}` stand for the colour's
    dimensions); one value per sample interval. count-like: `errors` over `requests` per colour.
    """

    name: str
    kind: str = "latency"
    namespace: str = ALB_NAMESPACE
    metric: str = ""
    statistic: str = "Average"
    expression: str = ""
    errors: str = ""  # count: the error count metric
    requests: str = "RequestCount"  # count: the request count metric
    direction: str = "higher"
    weight: float = 1.0
    critical: bool = False


DEFAULT_ANALYSIS_METRICS = (
    AnalysisMetric(name="5xx_ratio", kind="count", errors="HTTPCode_Target_5XX_Count", critical=True),
    AnalysisMetric(name="response_time", metric="TargetResponseTime", statistic="Average"),
    AnalysisMetric(name="response_time_p99", metric="TargetResponseTime", statistic="p99"),
)


@dataclass(frozen=True)
class AnalysisSettings:
    """`analysis:` of an environment: judge the new colour against the old one after each step."""

    metrics: tuple[AnalysisMetric, ...] = DEFAULT_ANALYSIS_METRICS
    interval_s: float = 60.0  # one sample per interval (CloudWatch period)
    min_samples: int = 10  # latency-like: per colour, before judging
    min_requests: int = 100  # count-like: per colour, before judging
    confidence: float = 0.98
    tolerance: float = 0.1  # latency: a shift under this share of the old median is no failure
    spread_tolerance: float = 0.5  # a spread (IQR) under 1 + this times the old one's is no failure
    pass_score: float = 95.0
    marginal_score: float = 75.0
    on_marginal: str = "pause"
    on_inconclusive: str = "pause"
    inconclusive_limit_s: float = 600.0  # how long to wait for enough data


def analysis_from_json(d: Mapping[str, Any] | None) -> AnalysisSettings | None:
    """The settings back from their JSON form in a deployment record."""
    if not d:
        return None
    metrics = tuple(AnalysisMetric(**m) for m in d.get("metrics", ()))
    return AnalysisSettings(**{**d, "metrics": metrics})


@dataclass(frozen=True)
class LocalSettings:
    app: str = "examples/app"  # directory holding the WSGI app
    wsgi: str = "app:application"
    listen_port: int = 8800  # nginx's loopback port
    workers: int = 2
    drain_timeout_s: float = 10.0
    stop_timeout_s: float = 10.0
    start_timeout_s: float = 30.0
    env: Mapping[str, str] = field(default_factory=dict)  # passed to the app processes


@dataclass(frozen=True)
class AppSettings:
    """What each instance is told at boot: plain values, and secrets by name only (fetched there)."""

    settings: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)  # NAME -> "ssm:<name>" | "secretsmanager:<id>"
    instance_profile: str = ""  # an existing instance profile; empty: the slot module makes one


@dataclass(frozen=True)
class Environment:
    name: str = field(metadata={"key": None})
    platform: str
    health_check: HealthCheck = HealthCheck()
    traffic: TrafficSettings = TrafficSettings()
    smoke: tuple[SmokeCheck, ...] = ()
    capacity: Capacity = Capacity()
    load_balancer: LoadBalancer = LoadBalancer()
    bake: BakeSettings = BakeSettings()
    bake_time_s: float = 0.0
    alarms: tuple[str, ...] = ()
    metrics: MetricThresholds = MetricThresholds()
    analysis: AnalysisSettings | None = None  # None: no `analysis:` key, no judging
    promotion: str = "auto"
    gate: str = "before-full"
    scale_down_delay_s: float = 0.0
    local: LocalSettings = LocalSettings()
    app: AppSettings = AppSettings()


@dataclass(frozen=True)
class ReleaseSettings:
    """A release: the same version through ordered waves of environments, each wave's in parallel."""

    name: str = field(metadata={"key": None})
    waves: tuple[tuple[str, ...], ...] = ()
    parallelism: int = 0  # environments of a wave at once; 0 (the default when unset): the whole wave
    on_failure: str = ON_FAILURE[0]  # rollback-wave: abort the rest of the wave; finish-wave: let it finish
    when_locked: str = WHEN_LOCKED[0]  # an environment held by another deployment: fail now, or wait for it
    lock_wait_s: float = 600.0  # with `when_locked: wait`, how long before failing
    promotion: str = "auto"  # manual: pause between waves until `bluegreen promote NAME`

    def wave_of(self, environment: str) -> int:
        return next(i for i, wave in enumerate(self.waves) if environment in wave)


@dataclass(frozen=True)
class StateSettings:
    backend: str = "sqlite"
    path: Path = Path(".bluegreen")  # local state directory (sqlite, sandbox, terraform)
    table: str = "bluegreen-deployments"  # dynamodb


@dataclass(frozen=True)
class AwsSettings:
    region: str = "us-east-1"
    # empty: AWS itself (or AWS_ENDPOINT_URL); "sandbox": the moto server that
    # `bluegreen sandbox up` recorded in the state directory.
    endpoint_url: str = ""
    terraform_state_bucket: str = ""  # empty: local state in the state directory
    terraform_lock_table: str = ""
    provider_mirror: str = ""  # filesystem mirror of providers; also BLUEGREEN_TF_PROVIDER_MIRROR
    # The network the environment module puts the load balancer and the slots in.
    # Empty with endpoint_url "sandbox": the network `bluegreen sandbox up` made.
    vpc_id: str = ""
    subnet_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    path: Path = field(metadata={"key": None})
    environments: Mapping[str, Environment]
    state: StateSettings = StateSettings()
    aws: AwsSettings = AwsSettings()
    webhook: str = field(default="", metadata={"key": "notify"})  # `notify: {webhook: URL}`
    releases: Mapping[str, ReleaseSettings] = field(default_factory=dict)

    def environment(self, name: str) -> Environment:
        if name not in self.environments:
            known = ", ".join(sorted(self.environments)) or "(none)"
            raise ConfigError(
                f"no environment named {name!r} in {self.path}",
                where=f"{self.path}: environments",
                hint=f"use one of: {known}" + did_you_mean(name, self.environments),
            )
        return self.environments[name]

    def release(self, name: str) -> ReleaseSettings | None:
        """The release of that name, or None: the name is an environment's (or nothing's)."""
        return self.releases.get(name)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, p: str | Path) -> Path:
        """Paths in the file are relative to the file."""
        path = Path(p)
        return path if path.is_absolute() else (self.base_dir / path)


def keys(cls: type) -> tuple[str, ...]:
    """The YAML keys of a settings section, in the order of its fields."""
    out = []
    for f in fields(cls):
        key = f.metadata.get("key", f.name.removesuffix("_s"))
        if key is not None:
            out.append(key)
    return tuple(out)


def did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""

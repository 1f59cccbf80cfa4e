"""bluegreen.yaml -> typed, validated settings.

Every problem is reported as a ConfigError naming the file, the key path
(and the line, from the YAML parser's marks), what is wrong and a fix.
Loading never changes anything. `${VAR}` is replaced from the environment;
a variable that is not set is an error, never an empty string
(`${VAR:-default}` gives a default explicitly).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bluegreen.errors import ConfigError

DEFAULT_CONFIG = "bluegreen.yaml"
PLATFORMS = ("aws", "local", "simulated")
STRATEGIES = ("all-at-once", "canary", "linear")
PROMOTIONS = ("auto", "manual")
GATE_POSITIONS = ("before-full", "after-last-step")
LB_TYPES = ("alb", "elb")
BACKENDS = ("sqlite", "dynamodb")
ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{0,27}$")


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
    strategy: str = "all-at-once"
    steps: tuple[CanaryStep, ...] = ()  # canary
    linear_step: int = 0  # linear: percent per step
    linear_every_s: float = 0.0
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
class Environment:
    name: str
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
    promotion: str = "auto"
    gate: str = "before-full"
    scale_down_delay_s: float = 0.0
    local: LocalSettings = LocalSettings()


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
    path: Path
    environments: Mapping[str, Environment]
    state: StateSettings = StateSettings()
    aws: AwsSettings = AwsSettings()
    webhook: str = ""

    def environment(self, name: str) -> Environment:
        if name not in self.environments:
            known = ", ".join(sorted(self.environments)) or "(none)"
            raise ConfigError(
                f"no environment named {name!r} in {self.path}",
                where=f"{self.path}: environments",
                hint=f"use one of: {known}" + _did_you_mean(name, self.environments),
            )
        return self.environments[name]

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, p: str | Path) -> Path:
        """Paths in the file are relative to the file."""
        path = Path(p)
        return path if path.is_absolute() else (self.base_dir / path)


# -- loading -----------------------------------------------------------------------


def load(path: str | Path = DEFAULT_CONFIG, env: Mapping[str, str] | None = None) -> Config:
    path = Path(path)
    if not path.exists():
        raise ConfigError(
            f"config file {path} does not exist",
            where=str(path),
            hint="write one with `bluegreen init`, or pass --config FILE",
        )
    text = path.read_text()
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(
            f"{path} is not valid YAML: {getattr(e, 'problem', e)}",
            where=f"{path}{line}",
            hint="fix the YAML syntax at that line",
        ) from None
    lines = _line_index(root)
    data = yaml.safe_load(text) or {}
    return _Loader(path.resolve(), lines, os.environ if env is None else env).config(data)


def _line_index(node: yaml.Node | None, prefix: str = "") -> dict[str, int]:
    """Map dotted key paths to 1-based line numbers from the parser's marks."""
    out: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = f"{prefix}.{k.value}" if prefix else str(k.value)
            out[key] = k.start_mark.line + 1
            out.update(_line_index(v, key))
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            key = f"{prefix}[{i}]"
            out[key] = v.start_mark.line + 1
            out.update(_line_index(v, key))
    return out


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


class _Loader:
    def __init__(self, path: Path, lines: dict[str, int], env: Mapping[str, str]) -> None:
        self.path = path
        self.lines = lines
        self.env = env

    # errors ------------------------------------------------------------------
    def fail(self, key: str, what: str, hint: str) -> ConfigError:
        line = self.lines.get(key)
        where = f"{self.path}:{line}" if line else str(self.path)
        return ConfigError(f"{key}: {what}", where=f"{where} (key {key})", hint=hint)

    # primitives ------------------------------------------------------------------
    def interpolate(self, key: str, value: Any) -> Any:
        if not isinstance(value, str):
            return value

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in self.env:
                return self.env[name]
            if default is not None:
                return default
            raise self.fail(
                key,
                f"environment variable {name} is not set",
                f"export {name}=... or write ${{{name}:-default}} for an explicit default",
            )

        return _VAR.sub(sub, value)

    def mapping(self, key: str, value: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a mapping, got {type(value).__name__}", "write it as `key: value` lines")
        for k in value:
            if k not in allowed:
                raise self.fail(
                    f"{key}.{k}" if key else str(k),
                    "unknown key" + _did_you_mean(str(k), allowed),
                    f"allowed keys here: {', '.join(allowed)}",
                )
        return value

    def str_(self, key: str, value: Any, default: str = "", choices: tuple[str, ...] = ()) -> str:
        if value is None:
            return default
        value = self.interpolate(key, value)
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise self.fail(key, f"must be a string, got {type(value).__name__}", "write a plain string")
        text = str(value)
        if choices and text not in choices:
            raise self.fail(
                key,
                f"{text!r} is not one of {', '.join(choices)}" + _did_you_mean(text, choices),
                f"use one of: {', '.join(choices)}",
            )
        return text

    def int_(self, key: str, value: Any, default: int, lo: int | None = None, hi: int | None = None) -> int:
        if value is None:
            return default
        value = self.interpolate(key, value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(key, f"must be a whole number, got {value!r}", "write a number such as 2")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            rng = f"{lo if lo is not None else '-inf'}..{hi if hi is not None else 'inf'}"
            raise self.fail(key, f"{value} is out of range {rng}", f"use a value in {rng}")
        return value

    def seconds(self, key: str, value: Any, default: float) -> float:
        """A duration: a number of seconds, or a string like 30s, 5m, 1h, 250ms."""
        if value is None:
            return default
        value = self.interpolate(key, value)
        if isinstance(value, bool):
            value = None
        if isinstance(value, int | float):
            seconds = float(value)
        else:
            m = _DURATION.match(str(value)) if value is not None else None
            if not m:
                raise self.fail(key, f"{value!r} is not a duration", "write seconds (30) or 30s, 5m, 1h, 250ms")
            n, unit = float(m.group(1)), m.group(2) or "s"
            seconds = n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
        if seconds < 0:
            raise self.fail(key, "must not be negative", "use 0 or more")
        return seconds

    def str_list(self, key: str, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(key, "must be a list", "write it as `- item` lines")
        return tuple(self.str_(f"{key}[{i}]", v) for i, v in enumerate(value))

    def section(self, key: str, value: Any, build: Callable[[dict[str, Any]], Any], allowed: tuple[str, ...]) -> Any:
        return build(self.mapping(key, value, allowed))

    # the file --------------------------------------------------------------------
    def config(self, data: Any) -> Config:
        top = self.mapping("", data, ("environments", "state", "aws", "notify"))
        st = self.mapping("state", top.get("state"), ("backend", "path", "table"))
        state = StateSettings(
            backend=self.str_("state.backend", st.get("backend"), "sqlite", BACKENDS),
            path=self._path(self.str_("state.path", st.get("path"), ".bluegreen")),
            table=self.str_("state.table", st.get("table"), "bluegreen-deployments"),
        )
        a = self.mapping(
            "aws",
            top.get("aws"),
            (
                "region", "endpoint_url", "terraform_state_bucket", "terraform_lock_table", "provider_mirror",
                "vpc_id", "subnet_ids",
            ),
        )  # fmt: skip
        aws = AwsSettings(
            region=self.str_("aws.region", a.get("region"), "us-east-1"),
            endpoint_url=self.str_("aws.endpoint_url", a.get("endpoint_url"), ""),
            terraform_state_bucket=self.str_("aws.terraform_state_bucket", a.get("terraform_state_bucket"), ""),
            terraform_lock_table=self.str_("aws.terraform_lock_table", a.get("terraform_lock_table"), ""),
            provider_mirror=self.str_("aws.provider_mirror", a.get("provider_mirror"), ""),
            vpc_id=self.str_("aws.vpc_id", a.get("vpc_id"), ""),
            subnet_ids=self.str_list("aws.subnet_ids", a.get("subnet_ids")),
        )
        self.check_network(aws)
        n = self.mapping("notify", top.get("notify"), ("webhook",))
        envs_raw = top.get("environments")
        if not envs_raw:
            raise self.fail(
                "environments", "no environments are defined", "add `environments: {NAME: {platform: ...}}`"
            )
        envs_raw = self.mapping("environments", envs_raw, tuple(str(k) for k in envs_raw))
        envs = {str(name): self.environment(str(name), body) for name, body in envs_raw.items()}
        return Config(
            path=self.path,
            environments=envs,
            state=state,
            aws=aws,
            webhook=self.str_("notify.webhook", n.get("webhook"), ""),
        )

    def check_network(self, aws: AwsSettings) -> None:
        if aws.endpoint_url == "sandbox" and (aws.vpc_id or aws.subnet_ids):
            raise self.fail(
                "aws.vpc_id" if aws.vpc_id else "aws.subnet_ids",
                "the sandbox makes its own network",
                "remove aws.vpc_id and aws.subnet_ids, or set aws.endpoint_url to a real endpoint",
            )
        if bool(aws.vpc_id) != bool(aws.subnet_ids):
            missing = "aws.subnet_ids" if aws.vpc_id else "aws.vpc_id"
            raise self.fail(
                missing,
                "is required with " + ("aws.vpc_id" if aws.vpc_id else "aws.subnet_ids"),
                "name the VPC and at least two of its subnets",
            )
        if aws.subnet_ids and len(set(aws.subnet_ids)) < 2:
            raise self.fail(
                "aws.subnet_ids",
                "a load balancer needs at least two subnets",
                "list two subnets in different availability zones",
            )

    def _path(self, p: str) -> Path:
        path = Path(p)
        return path if path.is_absolute() else self.path.parent / path

    def environment(self, name: str, body: Any) -> Environment:
        k = f"environments.{name}"
        if not ENV_NAME.match(name):
            raise self.fail(
                k,
                f"environment name {name!r} is not valid",
                "use lowercase letters, digits and '-', starting with a letter, at most 28 characters",
            )
        allowed = (
            "platform", "health_check", "traffic", "smoke", "capacity", "load_balancer", "bake",
            "bake_time", "alarms", "metrics", "promotion", "gate", "scale_down_delay", "local",
        )  # fmt: skip
        e = self.mapping(k, body, allowed)
        if "platform" not in e:
            raise self.fail(f"{k}.platform", "is required", f"set it to one of: {', '.join(PLATFORMS)}")
        platform = self.str_(f"{k}.platform", e.get("platform"), "", PLATFORMS)
        lb = self.load_balancer(f"{k}.load_balancer", e.get("load_balancer"))
        traffic = self.traffic(f"{k}.traffic", e.get("traffic"))
        if lb.type == "elb" and traffic.strategy != "all-at-once":
            raise self.fail(
                f"{k}.traffic.strategy",
                f"{traffic.strategy!r} needs weighted routing, which a classic ELB does not have",
                "use `strategy: all-at-once` or `load_balancer.type: alb`",
            )
        return Environment(
            name=name,
            platform=platform,
            health_check=self.health_check(f"{k}.health_check", e.get("health_check")),
            traffic=traffic,
            smoke=self.smoke(f"{k}.smoke", e.get("smoke")),
            capacity=self.capacity(f"{k}.capacity", e.get("capacity")),
            load_balancer=lb,
            bake=self.bake(f"{k}.bake", e.get("bake")),
            bake_time_s=self.seconds(f"{k}.bake_time", e.get("bake_time"), 0.0),
            alarms=self.str_list(f"{k}.alarms", e.get("alarms")),
            metrics=self.metrics(f"{k}.metrics", e.get("metrics")),
            promotion=self.str_(f"{k}.promotion", e.get("promotion"), "auto", PROMOTIONS),
            gate=self.str_(f"{k}.gate", e.get("gate"), "before-full", GATE_POSITIONS),
            scale_down_delay_s=self.seconds(f"{k}.scale_down_delay", e.get("scale_down_delay"), 0.0),
            local=self.local(f"{k}.local", e.get("local")),
        )

    def health_check(self, k: str, v: Any) -> HealthCheck:
        h = self.mapping(
            k, v, ("path", "interval", "timeout", "healthy_threshold", "unhealthy_threshold", "deadline", "poll")
        )
        d = HealthCheck()
        hc = HealthCheck(
            path=self.str_(f"{k}.path", h.get("path"), d.path),
            interval_s=self.seconds(f"{k}.interval", h.get("interval"), d.interval_s),
            timeout_s=self.seconds(f"{k}.timeout", h.get("timeout"), d.timeout_s),
            healthy_threshold=self.int_(
                f"{k}.healthy_threshold", h.get("healthy_threshold"), d.healthy_threshold, 1, 10
            ),
            unhealthy_threshold=self.int_(
                f"{k}.unhealthy_threshold", h.get("unhealthy_threshold"), d.unhealthy_threshold, 1, 10
            ),
            deadline_s=self.seconds(f"{k}.deadline", h.get("deadline"), d.deadline_s),
            poll_s=self.seconds(f"{k}.poll", h.get("poll"), 0.0),
        )
        if not hc.path.startswith("/"):
            raise self.fail(f"{k}.path", f"{hc.path!r} must start with /", "write it as /health")
        if hc.timeout_s >= hc.interval_s:
            raise self.fail(
                f"{k}.timeout",
                f"timeout {hc.timeout_s:g}s must be less than interval {hc.interval_s:g}s",
                "lower the timeout or raise the interval",
            )
        return hc

    def traffic(self, k: str, v: Any) -> TrafficSettings:
        t = self.mapping(k, v, ("strategy", "steps", "step", "every", "check_every", "readback_retries"))
        strategy = self.str_(f"{k}.strategy", t.get("strategy"), "all-at-once", STRATEGIES)
        steps: list[CanaryStep] = []
        raw_steps = t.get("steps")
        if strategy == "canary":
            if not isinstance(raw_steps, list) or not raw_steps:
                raise self.fail(
                    f"{k}.steps",
                    "canary needs a list of steps",
                    "write `steps: [{weight: 10, wait: 60s}, {weight: 50, wait: 60s}]`",
                )
            last = 0
            for i, s in enumerate(raw_steps):
                sk = f"{k}.steps[{i}]"
                sm = self.mapping(sk, s, ("weight", "wait"))
                w = self.int_(f"{sk}.weight", sm.get("weight"), -1, 1, 100)
                if w == -1:
                    raise self.fail(f"{sk}.weight", "is required", "give the percent of traffic for this step")
                if w <= last:
                    raise self.fail(
                        f"{sk}.weight",
                        f"{w} does not increase on the step before ({last})",
                        "list weights in increasing order",
                    )
                last = w
                steps.append(CanaryStep(weight=w, wait_s=self.seconds(f"{sk}.wait", sm.get("wait"), 0.0)))
        elif raw_steps is not None:
            raise self.fail(
                f"{k}.steps",
                f"steps only apply to the canary strategy, not {strategy!r}",
                "remove steps, or set `strategy: canary`",
            )
        linear_step = 0
        linear_every = 0.0
        if strategy == "linear":
            linear_step = self.int_(f"{k}.step", t.get("step"), 0, 1, 100)
            if not linear_step:
                raise self.fail(
                    f"{k}.step", "linear needs `step` (percent per step)", "write `step: 20` and `every: 60s`"
                )
            linear_every = self.seconds(f"{k}.every", t.get("every"), 60.0)
        return TrafficSettings(
            strategy=strategy,
            steps=tuple(steps),
            linear_step=linear_step,
            linear_every_s=linear_every,
            check_every_s=self.seconds(f"{k}.check_every", t.get("check_every"), 10.0),
            readback_retries=self.int_(f"{k}.readback_retries", t.get("readback_retries"), 3, 0, 20),
        )

    def smoke(self, k: str, v: Any) -> tuple[SmokeCheck, ...]:
        if v is None:
            return ()
        if not isinstance(v, list):
            raise self.fail(k, "must be a list of checks", "write `- {path: /about/, status: 200, contains: text}`")
        out = []
        for i, c in enumerate(v):
            ck = f"{k}[{i}]"
            cm = self.mapping(ck, c, ("path", "status", "contains", "timeout"))
            path = self.str_(f"{ck}.path", cm.get("path"), "")
            if not path.startswith("/"):
                raise self.fail(f"{ck}.path", "must be given and start with /", "write e.g. `path: /about/`")
            out.append(
                SmokeCheck(
                    path=path,
                    status=self.int_(f"{ck}.status", cm.get("status"), 200, 100, 599),
                    contains=self.str_(f"{ck}.contains", cm.get("contains"), ""),
                    timeout_s=self.seconds(f"{ck}.timeout", cm.get("timeout"), 5.0),
                )
            )
        return tuple(out)

    def capacity(self, k: str, v: Any) -> Capacity:
        c = self.mapping(k, v, ("min", "max", "desired", "instance_type"))
        d = Capacity()
        cap = Capacity(
            min=self.int_(f"{k}.min", c.get("min"), d.min, 0),
            max=self.int_(
                f"{k}.max",
                c.get("max"),
                max(d.max, c.get("desired") or 0) if isinstance(c.get("desired"), int) else d.max,
                1,
            ),
            desired=self.int_(f"{k}.desired", c.get("desired"), d.desired, 1),
            instance_type=self.str_(f"{k}.instance_type", c.get("instance_type"), d.instance_type),
        )
        if not cap.min <= cap.desired <= cap.max:
            raise self.fail(
                f"{k}.desired",
                f"desired {cap.desired} must be between min {cap.min} and max {cap.max}",
                "adjust min, desired or max",
            )
        return cap

    def load_balancer(self, k: str, v: Any) -> LoadBalancer:
        lb = self.mapping(k, v, ("type", "listener_port", "test_listener_port"))
        d = LoadBalancer()
        return LoadBalancer(
            type=self.str_(f"{k}.type", lb.get("type"), d.type, LB_TYPES),
            listener_port=self.int_(f"{k}.listener_port", lb.get("listener_port"), d.listener_port, 1, 65535),
            test_listener_port=self.int_(
                f"{k}.test_listener_port", lb.get("test_listener_port"), d.test_listener_port, 1, 65535
            ),
        )

    def bake(self, k: str, v: Any) -> BakeSettings:
        b = self.mapping(k, v, ("template", "source_ami", "source_paths", "instance_type", "artifact", "variables"))
        d = BakeSettings()
        names = tuple(str(x) for x in (b.get("variables") or {}))
        vars_raw = self.mapping(f"{k}.variables", b.get("variables"), names)
        return BakeSettings(
            template=self.str_(f"{k}.template", b.get("template"), d.template),
            source_ami=self.str_(f"{k}.source_ami", b.get("source_ami"), ""),
            source_paths=self.str_list(f"{k}.source_paths", b.get("source_paths")),
            instance_type=self.str_(f"{k}.instance_type", b.get("instance_type"), d.instance_type),
            artifact=self.str_(f"{k}.artifact", b.get("artifact"), ""),
            variables={str(n): self.str_(f"{k}.variables.{n}", val) for n, val in vars_raw.items()},
        )

    def metrics(self, k: str, v: Any) -> MetricThresholds:
        m = self.mapping(k, v, ("max_5xx", "max_response_time"))
        rt = m.get("max_response_time")
        return MetricThresholds(
            max_5xx=self.int_(f"{k}.max_5xx", m.get("max_5xx"), -1, 0) if m.get("max_5xx") is not None else None,
            max_response_time_s=self.seconds(f"{k}.max_response_time", rt, 0.0) if rt is not None else None,
        )

    def local(self, k: str, v: Any) -> LocalSettings:
        lo = self.mapping(
            k, v, ("app", "wsgi", "listen_port", "workers", "drain_timeout", "stop_timeout", "start_timeout", "env")
        )
        d = LocalSettings()
        env_raw = self.mapping(f"{k}.env", lo.get("env"), tuple(str(x) for x in (lo.get("env") or {})))
        return LocalSettings(
            app=self.str_(f"{k}.app", lo.get("app"), d.app),
            wsgi=self.str_(f"{k}.wsgi", lo.get("wsgi"), d.wsgi),
            listen_port=self.int_(f"{k}.listen_port", lo.get("listen_port"), d.listen_port, 1, 65535),
            workers=self.int_(f"{k}.workers", lo.get("workers"), d.workers, 1, 64),
            drain_timeout_s=self.seconds(f"{k}.drain_timeout", lo.get("drain_timeout"), d.drain_timeout_s),
            stop_timeout_s=self.seconds(f"{k}.stop_timeout", lo.get("stop_timeout"), d.stop_timeout_s),
            start_timeout_s=self.seconds(f"{k}.start_timeout", lo.get("start_timeout"), d.start_timeout_s),
            env={str(n): self.str_(f"{k}.env.{n}", val) for n, val in env_raw.items()},
        )

"""bluegreen.yaml -> typed, validated settings (`bluegreen.settings`).

Every problem is a ConfigError naming the file, the key path (and the line,
from the YAML parser's marks), what is wrong and a fix; all the problems of
one file are reported together (`ConfigErrors`). Loading never changes
anything. `${VAR}` is replaced from the environment; a variable that is not
set is an error, never an empty string (`${VAR:-default}` gives a default
explicitly). `parse` takes a mapping, so the core's tests need no file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from bluegreen.config_analysis import AnalysisRules
from bluegreen.config_aws import InstanceAndAwsRules
from bluegreen.config_releases import ReleaseRules
from bluegreen.errors import ConfigError, ConfigErrors
from bluegreen.settings import (
    BACKENDS,
    DEFAULT_CONFIG,
    ENV_NAME,
    GATE_POSITIONS,
    LB_TYPES,
    PLATFORMS,
    PROMOTIONS,
    STRATEGIES,
    AwsSettings,
    BakeSettings,
    CanaryStep,
    Capacity,
    Config,
    Environment,
    HealthCheck,
    LoadBalancer,
    LocalSettings,
    MetricThresholds,
    SmokeCheck,
    StateSettings,
    TrafficSettings,
    keys,
)

# The settings' types are `bluegreen.settings`; these names are also here for the modules that load and read them.
__all__ = [
    "STRATEGIES", "AwsSettings", "BakeSettings", "Capacity", "Config", "ConfigError", "Environment", "HealthCheck",
    "LoadBalancer", "LocalSettings", "MetricThresholds", "SmokeCheck", "StateSettings", "TrafficSettings",
    "load", "parse",
]  # fmt: skip

# The defaults of sections that have required fields.
_ENV = Environment(name="", platform="")
_SMOKE = SmokeCheck(path="")


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
        line, hint = _syntax_error_line(e, text)
        raise ConfigError(
            f"{path} is not valid YAML: {getattr(e, 'problem', e)}",
            where=f"{path}:{line}" if line else str(path),
            hint=hint,
        ) from None
    return parse(yaml.safe_load(text) or {}, path=path, env=env, lines=_line_index(root))


def parse(
    data: Any,
    *,
    path: str | Path = DEFAULT_CONFIG,
    env: Mapping[str, str] | None = None,
    lines: Mapping[str, int] | None = None,
) -> Config:
    """The settings in `data` (bluegreen.yaml's content); `path` is where relative paths start."""
    return _Loader(Path(path).resolve(), dict(lines or {}), os.environ if env is None else env).config(data)


def _syntax_error_line(e: yaml.YAMLError, text: str) -> tuple[int | None, str]:
    """The 1-based line the YAML mistake is on, and what to do about it.

    The parser notices some mistakes only on a later line: an unclosed quote
    or bracket at the end of the file (its `context_mark` is where it opened),
    and a key missing its `:`, which reads as a plain scalar running on into
    the next line until that line's `:` is refused.
    """
    problem = getattr(e, "problem_mark", None)
    context = getattr(e, "context_mark", None)
    about = str(getattr(e, "context", "") or "")
    if context is not None and about.startswith(("while scanning a quoted", "while parsing a flow")):
        return context.line + 1, "close the quote or bracket opened on that line"
    if problem is None:
        return None, "fix the YAML syntax"
    line = problem.line
    if str(getattr(e, "problem", "")) == "mapping values are not allowed here":
        before = text.splitlines()[line][: problem.column] if line < len(text.splitlines()) else ""
        previous = next(
            (
                n
                for n in range(line - 1, -1, -1)
                if text.splitlines()[n].strip() and not text.splitlines()[n].lstrip().startswith("#")
            ),
            None,
        )
        if ":" not in before and previous is not None and ":" not in text.splitlines()[previous]:
            return previous + 1, "a key on that line lacks its `:` (write `key: value`)"
    return line + 1, "fix the YAML syntax at that line"


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


class _Loader(InstanceAndAwsRules, AnalysisRules, ReleaseRules):
    """The sections of the file, each into its settings; `config` raises every problem at the end."""

    # the file --------------------------------------------------------------------
    def config(self, data: Any) -> Config:
        top = self.mapping("", data, keys(Config))
        state = self.state(top.get("state"))
        aws = self.aws(top.get("aws"))
        n = self.mapping("notify", top.get("notify"), ("webhook",))
        envs_raw = top.get("environments")
        envs: dict[str, Environment] = {}
        if not envs_raw:
            self.fail("environments", "no environments are defined", "add `environments: {NAME: {platform: ...}}`")
        else:
            envs_raw = self.mapping("environments", envs_raw, tuple(str(k) for k in envs_raw))
            envs = {str(name): self.environment(str(name), body) for name, body in envs_raw.items()}
        config = Config(
            path=self.path,
            environments=envs,
            state=state,
            aws=aws,
            webhook=self.str_("notify.webhook", n.get("webhook"), ""),
            releases=self.releases(top.get("releases"), envs),
        )
        if len(self.problems) == 1:
            raise self.problems[0]
        if self.problems:
            raise ConfigErrors(self.problems)
        return config

    def state(self, v: Any) -> StateSettings:
        st = self.mapping("state", v, keys(StateSettings))
        d = StateSettings()
        return StateSettings(
            backend=self.str_("state.backend", st.get("backend"), d.backend, BACKENDS),
            path=self._path(self.str_("state.path", st.get("path"), str(d.path))),
            table=self.str_("state.table", st.get("table"), d.table),
        )

    def aws(self, v: Any) -> AwsSettings:
        a = self.mapping("aws", v, keys(AwsSettings))
        d = AwsSettings()
        aws = AwsSettings(
            region=self.str_("aws.region", a.get("region"), d.region),
            endpoint_url=self.str_("aws.endpoint_url", a.get("endpoint_url"), d.endpoint_url),
            terraform_state_bucket=self.str_(
                "aws.terraform_state_bucket", a.get("terraform_state_bucket"), d.terraform_state_bucket
            ),
            terraform_lock_table=self.str_(
                "aws.terraform_lock_table", a.get("terraform_lock_table"), d.terraform_lock_table
            ),
            provider_mirror=self.str_("aws.provider_mirror", a.get("provider_mirror"), d.provider_mirror),
            vpc_id=self.str_("aws.vpc_id", a.get("vpc_id"), d.vpc_id),
            subnet_ids=self.str_list("aws.subnet_ids", a.get("subnet_ids")) or d.subnet_ids,
        )
        self.check_network(aws)
        return aws

    def check_network(self, aws: AwsSettings) -> None:
        if aws.endpoint_url == "sandbox" and (aws.vpc_id or aws.subnet_ids):
            self.fail(
                "aws.vpc_id" if aws.vpc_id else "aws.subnet_ids",
                "the sandbox makes its own network",
                "remove aws.vpc_id and aws.subnet_ids, or set aws.endpoint_url to a real endpoint",
            )
        elif bool(aws.vpc_id) != bool(aws.subnet_ids):
            missing = "aws.subnet_ids" if aws.vpc_id else "aws.vpc_id"
            self.fail(
                missing,
                "is required with " + ("aws.vpc_id" if aws.vpc_id else "aws.subnet_ids"),
                "name the VPC and at least two of its subnets",
            )
        elif aws.subnet_ids and len(set(aws.subnet_ids)) < 2:
            self.fail(
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
            self.fail(
                k,
                f"environment name {name!r} is not valid",
                "use lowercase letters, digits and '-', starting with a letter, at most 28 characters",
            )
        e = self.mapping(k, body, keys(Environment))
        d = _ENV
        if "platform" not in e:
            self.fail(f"{k}.platform", "is required", f"set it to one of: {', '.join(PLATFORMS)}")
        platform = self.str_(f"{k}.platform", e.get("platform"), PLATFORMS[-1], PLATFORMS)
        lb = self.load_balancer(f"{k}.load_balancer", e.get("load_balancer"))
        traffic = self.traffic(f"{k}.traffic", e.get("traffic"))
        if not lb.allows(traffic.strategy):
            self.fail(
                f"{k}.traffic.strategy",
                f"{traffic.strategy!r} needs weighted routing, which a classic ELB does not have",
                "use `strategy: all-at-once` or `load_balancer.type: alb`",
            )
        health_check = self.health_check(f"{k}.health_check", e.get("health_check"))
        if platform == "aws":
            self.check_aws_health_check(f"{k}.health_check", health_check, lb.type)
            self.check_test_listener(f"{k}.load_balancer", lb)
        return Environment(
            name=name,
            platform=platform,
            health_check=health_check,
            traffic=traffic,
            smoke=self.smoke(f"{k}.smoke", e.get("smoke")),
            capacity=self.capacity(f"{k}.capacity", e.get("capacity")),
            load_balancer=lb,
            bake=self.bake(f"{k}.bake", e.get("bake")),
            bake_time_s=self.seconds(f"{k}.bake_time", e.get("bake_time"), d.bake_time_s),
            alarms=self.str_list(f"{k}.alarms", e.get("alarms")) or d.alarms,
            metrics=self.metrics(f"{k}.metrics", e.get("metrics")),
            analysis=self.analysis(f"{k}.analysis", e.get("analysis") or {}) if "analysis" in e else d.analysis,
            promotion=self.str_(f"{k}.promotion", e.get("promotion"), d.promotion, PROMOTIONS),
            gate=self.str_(f"{k}.gate", e.get("gate"), d.gate, GATE_POSITIONS),
            scale_down_delay_s=self.seconds(f"{k}.scale_down_delay", e.get("scale_down_delay"), d.scale_down_delay_s),
            local=self.local(f"{k}.local", e.get("local")),
            app=self.app(f"{k}.app", e.get("app")),
        )

    def health_check(self, k: str, v: Any) -> HealthCheck:
        h = self.mapping(k, v, keys(HealthCheck))
        d = HealthCheck()
        before = len(self.problems)
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
            poll_s=self.seconds(f"{k}.poll", h.get("poll"), d.poll_s),
        )
        if not hc.path.startswith("/"):
            self.fail(f"{k}.path", f"{hc.path!r} must start with /", "write it as /health")
        if hc.timeout_s >= hc.interval_s and len(self.problems) == before:
            self.fail(
                f"{k}.timeout",
                f"timeout {hc.timeout_s:g}s must be less than interval {hc.interval_s:g}s",
                "lower the timeout or raise the interval",
            )
        return hc

    def traffic(self, k: str, v: Any) -> TrafficSettings:
        t = self.mapping(k, v, keys(TrafficSettings))
        d = TrafficSettings()
        strategy = self.str_(f"{k}.strategy", t.get("strategy"), d.strategy, STRATEGIES)
        steps: list[CanaryStep] = []
        raw_steps = t.get("steps")
        if strategy == "canary":
            if not isinstance(raw_steps, list) or not raw_steps:
                self.fail(
                    f"{k}.steps",
                    "canary needs a list of steps",
                    "write `steps: [{weight: 10, wait: 60s}, {weight: 50, wait: 60s}]`",
                )
                raw_steps = []
            last = 0
            for i, s in enumerate(raw_steps):
                sk = f"{k}.steps[{i}]"
                sm = self.mapping(sk, s, keys(CanaryStep))
                if sm.get("weight") is None:
                    self.fail(f"{sk}.weight", "is required", "give the percent of traffic for this step")
                    continue
                before = len(self.problems)
                w = self.int_(f"{sk}.weight", sm.get("weight"), 0, 1, 100)
                if len(self.problems) > before:
                    continue
                if w <= last:
                    self.fail(
                        f"{sk}.weight",
                        f"{w} does not increase on the step before ({last})",
                        "list weights in increasing order",
                    )
                last = w
                steps.append(CanaryStep(weight=w, wait_s=self.seconds(f"{sk}.wait", sm.get("wait"), 0.0)))
        elif raw_steps is not None:
            self.fail(
                f"{k}.steps",
                f"steps only apply to the canary strategy, not {strategy!r}",
                "remove steps, or set `strategy: canary`",
            )
        linear_step = d.linear_step
        linear_every = d.linear_every_s
        if strategy == "linear":
            linear_step = self.int_(f"{k}.step", t.get("step"), d.linear_step, 1, 100)
            if not linear_step and t.get("step") is None:
                self.fail(f"{k}.step", "linear needs `step` (percent per step)", "write `step: 20` and `every: 60s`")
            linear_every = self.seconds(f"{k}.every", t.get("every"), d.linear_every_s)
        return TrafficSettings(
            strategy=strategy,
            steps=tuple(steps),
            linear_step=linear_step,
            linear_every_s=linear_every,
            check_every_s=self.seconds(f"{k}.check_every", t.get("check_every"), d.check_every_s),
            readback_retries=self.int_(f"{k}.readback_retries", t.get("readback_retries"), d.readback_retries, 0, 20),
        )

    def smoke(self, k: str, v: Any) -> tuple[SmokeCheck, ...]:
        if v is None:
            return ()
        if not isinstance(v, list):
            self.fail(k, "must be a list of checks", "write `- {path: /about/, status: 200, contains: text}`")
            return ()
        out = []
        d = _SMOKE
        for i, c in enumerate(v):
            ck = f"{k}[{i}]"
            cm = self.mapping(ck, c, keys(SmokeCheck))
            path = self.str_(f"{ck}.path", cm.get("path"), d.path)
            if not path.startswith("/"):
                self.fail(f"{ck}.path", "must be given and start with /", "write e.g. `path: /about/`")
            out.append(
                SmokeCheck(
                    path=path,
                    status=self.int_(f"{ck}.status", cm.get("status"), d.status, 100, 599),
                    contains=self.str_(f"{ck}.contains", cm.get("contains"), d.contains),
                    timeout_s=self.seconds(f"{ck}.timeout", cm.get("timeout"), d.timeout_s),
                )
            )
        return tuple(out)

    def capacity(self, k: str, v: Any) -> Capacity:
        c = self.mapping(k, v, keys(Capacity))
        d = Capacity()
        before = len(self.problems)
        desired = c.get("desired")
        cap = Capacity(
            min=self.int_(f"{k}.min", c.get("min"), d.min, 0),
            # Without a max, room for the desired count.
            max=self.int_(f"{k}.max", c.get("max"), max(d.max, desired) if isinstance(desired, int) else d.max, 1),
            desired=self.int_(f"{k}.desired", desired, d.desired, 1),
            instance_type=self.str_(f"{k}.instance_type", c.get("instance_type"), d.instance_type),
        )
        if not cap.min <= cap.desired <= cap.max and len(self.problems) == before:
            self.fail(
                f"{k}.desired",
                f"desired {cap.desired} must be between min {cap.min} and max {cap.max}",
                "adjust min, desired or max",
            )
        return cap

    def load_balancer(self, k: str, v: Any) -> LoadBalancer:
        lb = self.mapping(k, v, keys(LoadBalancer))
        d = LoadBalancer()
        return LoadBalancer(
            type=self.str_(f"{k}.type", lb.get("type"), d.type, LB_TYPES),
            listener_port=self.int_(f"{k}.listener_port", lb.get("listener_port"), d.listener_port, 1, 65535),
            test_listener_port=self.int_(
                f"{k}.test_listener_port", lb.get("test_listener_port"), d.test_listener_port, 1, 65535
            ),
            certificate_arn=self.str_(f"{k}.certificate_arn", lb.get("certificate_arn"), d.certificate_arn),
            https_port=self.int_(f"{k}.https_port", lb.get("https_port"), d.https_port, 1, 65535),
            internal=self.bool_(f"{k}.internal", lb.get("internal"), d.internal),
            ingress_cidrs=self.cidrs(f"{k}.ingress_cidrs", lb.get("ingress_cidrs"), d.ingress_cidrs),
            test_cidrs=self.cidrs(f"{k}.test_cidrs", lb.get("test_cidrs"), d.test_cidrs),
            deletion_protection=self.bool_(
                f"{k}.deletion_protection", lb.get("deletion_protection"), d.deletion_protection
            ),
            access_logs_bucket=self.str_(f"{k}.access_logs_bucket", lb.get("access_logs_bucket"), d.access_logs_bucket),
            access_logs_prefix=self.str_(f"{k}.access_logs_prefix", lb.get("access_logs_prefix"), d.access_logs_prefix),
        )

    def bake(self, k: str, v: Any) -> BakeSettings:
        b = self.mapping(k, v, keys(BakeSettings))
        d = BakeSettings()
        return BakeSettings(
            template=self.str_(f"{k}.template", b.get("template"), d.template),
            source_ami=self.str_(f"{k}.source_ami", b.get("source_ami"), d.source_ami),
            source_paths=self.str_list(f"{k}.source_paths", b.get("source_paths")) or d.source_paths,
            instance_type=self.str_(f"{k}.instance_type", b.get("instance_type"), d.instance_type),
            artifact=self.str_(f"{k}.artifact", b.get("artifact"), d.artifact),
            variables=self.names(f"{k}.variables", b.get("variables")) or d.variables,
        )

    def metrics(self, k: str, v: Any) -> MetricThresholds:
        m = self.mapping(k, v, keys(MetricThresholds))
        d = MetricThresholds()
        rt = m.get("max_response_time")
        return MetricThresholds(
            max_5xx=self.int_(f"{k}.max_5xx", m["max_5xx"], 0, 0) if m.get("max_5xx") is not None else d.max_5xx,
            max_response_time_s=self.seconds(f"{k}.max_response_time", rt, 0.0)
            if rt is not None
            else d.max_response_time_s,
            publication_lag_s=self.seconds(f"{k}.publication_lag", m.get("publication_lag"), d.publication_lag_s),
            period_s=self.metric_period(f"{k}.period", m.get("period"), d.period_s),
        )

    def metric_period(self, k: str, v: Any, default: float) -> float:
        period = self.seconds(k, v, default)
        # CloudWatch's rule for a statistics period: 1, 5, 10, 30 s or a multiple of 60 s.
        if period not in (1, 5, 10, 30) and (period < 60 or period % 60):
            self.fail(k, f"{period:g}s is not a CloudWatch period", "use 60s (what ALB publishes), or 1, 5, 10, 30s")
            return default
        return period

    def local(self, k: str, v: Any) -> LocalSettings:
        lo = self.mapping(k, v, keys(LocalSettings))
        d = LocalSettings()
        return LocalSettings(
            app=self.str_(f"{k}.app", lo.get("app"), d.app),
            wsgi=self.str_(f"{k}.wsgi", lo.get("wsgi"), d.wsgi),
            listen_port=self.int_(f"{k}.listen_port", lo.get("listen_port"), d.listen_port, 1, 65535),
            workers=self.int_(f"{k}.workers", lo.get("workers"), d.workers, 1, 64),
            drain_timeout_s=self.seconds(f"{k}.drain_timeout", lo.get("drain_timeout"), d.drain_timeout_s),
            stop_timeout_s=self.seconds(f"{k}.stop_timeout", lo.get("stop_timeout"), d.stop_timeout_s),
            start_timeout_s=self.seconds(f"{k}.start_timeout", lo.get("start_timeout"), d.start_timeout_s),
            env=self.names(f"{k}.env", lo.get("env")) or d.env,
        )

"""The checks of bluegreen.yaml that AWS dictates: health check ranges, and what instances are told at boot.

Split from the loader so each stays one concern; `_Loader` in config.py reads
the file through these.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from bluegreen.config_values import ValueReader
from bluegreen.settings import APP_NAME, SECRET_SOURCES, AppSettings, Config, HealthCheck, LoadBalancer, keys

_EVERYONE = ("0.0.0.0/0", "::/0")


def warnings(config: Config) -> list[str]:
    """What is allowed but not fit to put in front of users: `validate` prints these, they never fail it."""
    out: list[str] = []
    if config.aws.endpoint_url == "sandbox":
        return out
    for name, env in sorted(config.environments.items()):
        if env.platform == "aws" and not env.load_balancer.certificate_arn:
            out.append(
                f"environments.{name}.load_balancer: no certificate_arn, so users reach it over plain HTTP; "
                "give an ACM certificate's ARN to serve HTTPS (HTTP then redirects to it)"
            )
    return out


class InstanceAndAwsRules(ValueReader):
    def check_aws_health_check(self, k: str, hc: HealthCheck, lb_type: str) -> None:
        """The ranges AWS enforces, as config errors here rather than a failed `env up`.

        Terraform passes whole seconds (rounded), so the rounded values are
        checked. Target groups (ALB): interval 5-300 s, timeout 2-120 s,
        thresholds 2-10; classic ELB: timeout 2-60 s. The timeout must be below
        the interval in both.
        https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html
        https://docs.aws.amazon.com/elasticloadbalancing/2012-06-01/APIReference/API_HealthCheck.html
        """
        interval, timeout = max(1, round(hc.interval_s)), max(1, round(hc.timeout_s))
        max_timeout = 120 if lb_type == "alb" else 60
        for key, value, lo, hi, unit in (
            ("interval", interval, 5, 300, "s"),
            ("timeout", timeout, 2, max_timeout, "s"),
            ("healthy_threshold", hc.healthy_threshold, 2, 10, ""),
            ("unhealthy_threshold", hc.unhealthy_threshold, 2, 10, ""),
        ):
            if not lo <= value <= hi:
                self.fail(
                    f"{k}.{key}",
                    f"{value}{unit} is outside what AWS allows for a {lb_type} health check ({lo}-{hi}{unit})",
                    f"use a value in {lo}..{hi}{unit}",
                )
        if timeout >= interval:
            self.fail(
                f"{k}.timeout",
                f"timeout {timeout}s must be less than interval {interval}s once rounded to whole seconds (as AWS takes them)",
                "lower the timeout or raise the interval by at least a second",
            )
        if len(hc.path) > 1024:
            self.fail(f"{k}.path", "is longer than the 1024 characters AWS allows", "shorten the path")

    def check_test_listener(self, k: str, lb: LoadBalancer) -> None:
        """Fail closed: the test listener serves the unreleased colour, so the public must not reach it.

        Without `test_cidrs` nobody could run smoke checks through it, and with
        0.0.0.0/0 anyone could reach the new colour early or push its metrics
        to force or block a rollback.
        """
        if lb.type != "alb":
            return
        if not lb.test_cidrs:
            self.fail(
                f"{k}.test_cidrs",
                "is required for platform aws: it says who may reach the test listener (the unreleased colour)",
                "list the addresses bluegreen's smoke checks come from, e.g. [10.0.0.0/16] or your CI runner's /32",
            )
        for cidr in lb.test_cidrs:
            if cidr in _EVERYONE:
                self.fail(
                    f"{k}.test_cidrs",
                    f"{cidr} opens the test listener (the unreleased colour) to everyone",
                    "list only the addresses bluegreen's smoke checks come from",
                )

    def bool_(self, k: str, v: Any, default: bool) -> bool:
        v = self.interpolate(k, v)
        if v is None:
            return default
        if isinstance(v, str) and v.lower() in ("true", "false"):
            return v.lower() == "true"
        if not isinstance(v, bool):
            self.fail(k, f"must be true or false, got {v!r}", "write true or false")
            return default
        return v

    def cidrs(self, k: str, v: Any, default: tuple[str, ...]) -> tuple[str, ...]:
        if v is None:
            return default
        out = self.str_list(k, v)
        for i, cidr in enumerate(out):
            try:
                ipaddress.ip_network(cidr)
            except ValueError:
                self.fail(f"{k}[{i}]", f"{cidr!r} is not an address range", "write it as 10.0.0.0/16 or 203.0.113.7/32")
        return out

    def app(self, k: str, v: Any) -> AppSettings:
        a = self.mapping(k, v, keys(AppSettings))
        settings = self.app_names(f"{k}.settings", a.get("settings"))
        secrets = self.app_names(f"{k}.secrets", a.get("secrets"))
        for name, ref in secrets.items():
            source, _, ident = ref.partition(":")
            if source not in SECRET_SOURCES or not ident.strip() or ident != ident.strip():
                self.fail(
                    f"{k}.secrets.{name}",
                    f"{ref!r} is not a secret reference",
                    'write "ssm:<parameter name>" or "secretsmanager:<secret id or ARN>": the name, never the value',
                )
        for name in settings.keys() & secrets.keys():
            self.fail(f"{k}.secrets.{name}", "is also in settings", "give each name one source")
        return AppSettings(
            settings=settings,
            secrets=secrets,
            instance_profile=self.str_(f"{k}.instance_profile", a.get("instance_profile"), ""),
        )

    def app_names(self, k: str, v: Any) -> dict[str, str]:
        """NAME: value lines for the app's environment (one line each: they become NAME=VALUE)."""
        raw = self.mapping(k, v, tuple(str(x) for x in (v or {})) if isinstance(v, dict) else ())
        out: dict[str, str] = {}
        for name, val in raw.items():
            if not APP_NAME.match(str(name)):
                self.fail(
                    f"{k}.{name}",
                    "is not an environment variable name",
                    "use A-Z, 0-9 and _, not starting with a digit",
                )
                continue
            text = str(val).lower() if isinstance(val, bool) else self.str_(f"{k}.{name}", val, "")
            if "\n" in text or "\r" in text:
                self.fail(f"{k}.{name}", "must be one line", "the app reads NAME=VALUE lines")
            out[str(name)] = text
        return out

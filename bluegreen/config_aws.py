"""The checks of bluegreen.yaml that AWS dictates: health check ranges, and what instances are told at boot.

Split from the loader so each stays one concern; `_Loader` in config.py reads
the file through these.
"""

from __future__ import annotations

from typing import Any

from bluegreen.config_values import ValueReader
from bluegreen.settings import APP_NAME, SECRET_SOURCES, AppSettings, HealthCheck, keys


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

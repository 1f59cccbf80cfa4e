"""How the sandbox's data plane behaves: propagation delay and CloudWatch timing, AWS's by default."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataPlaneSettings:
    # Longest delay between an API change (ModifyListener, RegisterTargets, ...) and the proxies
    # following it. AWS reports seconds to tens of seconds; reconciling is cheaper, so 1 s holds.
    propagation_s: float = 1.0
    # How long the proxies wait before following a weight change they have seen: 0 by default; tens of
    # seconds reproduce what AWS reports, for tests of late propagation. Keep it below propagation_s.
    change_delay_s: float = 0.0
    # AWS publishes ALB metrics per 60 s period, about a minute after it closes.
    metric_period_s: int = 60
    metric_lag_s: float = 60.0
    # The proxy: Debian's haproxy (2.6) binary, and how long it may take to answer on its runtime socket.
    haproxy_bin: str = "haproxy"
    proxy_start_timeout_s: float = 10.0

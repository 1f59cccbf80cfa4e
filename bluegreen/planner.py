"""The planner: an environment's settings -> the ordered steps of one deployment, and its first record.

Pure. The plan is frozen into the deployment record when the deployment
starts, so a config edit in the middle of a deployment changes nothing, and
`bluegreen plan` shows exactly what `deploy` will do.
"""

from __future__ import annotations

import time

from bluegreen.errors import ConfigError
from bluegreen.model import Actor, Colour, Phase, Record, Release, Step, StepKind, Weights
from bluegreen.settings import Environment

FULL = 100


def shift_weights(env: Environment, strategy: str) -> list[tuple[int, float]]:
    """(weight on the new colour, hold seconds) for each traffic step, ending at 100."""
    t = env.traffic
    if strategy == "all-at-once":
        steps: list[tuple[int, float]] = []
    elif strategy == "canary":
        if not t.steps:
            raise ConfigError(
                f"strategy canary needs steps in environments.{env.name}.traffic.steps",
                where=f"environments.{env.name}.traffic",
                hint="add `steps: [{weight: 10, wait: 60s}, {weight: 50, wait: 60s}]` or pick --strategy all-at-once",
            )
        steps = [(s.weight, s.wait_s) for s in t.steps if s.weight < FULL]
    elif strategy == "linear":
        if not t.linear_step:
            raise ConfigError(
                f"strategy linear needs environments.{env.name}.traffic.step",
                where=f"environments.{env.name}.traffic",
                hint="add `step: 20` and `every: 60s`, or pick --strategy all-at-once",
            )
        steps = [(w, t.linear_every_s) for w in range(t.linear_step, FULL, t.linear_step)]
    else:
        raise ConfigError(
            f"unknown strategy {strategy!r}", hint="use one of: all-at-once, canary, linear", where="--strategy"
        )
    last_hold = next((s.wait_s for s in t.steps if s.weight == FULL), 0.0) if strategy == "canary" else 0.0
    return [*steps, (FULL, last_hold)]


def metric_lag(env: Environment) -> float:
    """How long a held step waits after its hold for the metrics of its last minutes to be published.

    Only the metric thresholds judge published metrics; without them there is nothing to wait for.
    """
    return env.metrics.publication_lag_s if env.metrics.any else 0.0


def plan(env: Environment, *, first_deploy: bool, bake: bool, strategy: str | None = None) -> tuple[Step, ...]:
    strategy = strategy or env.traffic.strategy
    if not env.load_balancer.allows(strategy):
        raise ConfigError(
            f"strategy {strategy!r} needs weighted routing, which a classic ELB does not have",
            where=f"environments.{env.name}.load_balancer.type",
            hint="use --strategy all-at-once, or an ALB",
        )
    hc = env.health_check
    steps: list[Step] = []
    if bake:
        steps.append(Step(StepKind.BAKE))
    steps += [
        Step(StepKind.PROVISION),
        Step(
            StepKind.WAIT_HEALTHY,
            timeout_s=hc.deadline_s,
            poll_s=hc.poll_s or hc.interval_s,
            threshold=hc.healthy_threshold,
        ),
        Step(StepKind.SMOKE),
    ]
    # With nothing live there is nobody to shift from, to gate against or to retire.
    shifts = [(FULL, 0.0)] if first_deploy else shift_weights(env, strategy)
    if not first_deploy:
        steps.append(Step(StepKind.HEADROOM))
    gate = env.promotion == "manual" and not first_deploy
    settle = metric_lag(env)
    # With both colours serving, the new one is judged against the old one after each partial step's hold.
    judged = env.analysis is not None and not first_deploy
    for weight, hold in shifts:
        if gate and env.gate == "before-full" and weight == FULL:
            steps.append(Step(StepKind.GATE))
        steps.append(
            Step(
                StepKind.SHIFT,
                weight=weight,
                wait_s=hold,
                poll_s=env.traffic.check_every_s,
                retries=env.traffic.readback_retries,
                settle_s=settle if hold > 0 else 0.0,
                metric_period_s=env.metrics.period_s if settle and hold > 0 else 0.0,
                analyse=judged and weight < FULL,
            )
        )
    if env.bake_time_s > 0:
        period = env.metrics.period_s if settle else 0.0
        steps.append(
            Step(
                StepKind.OBSERVE,
                wait_s=env.bake_time_s,
                poll_s=env.traffic.check_every_s,
                settle_s=settle,
                metric_period_s=period,
                analyse=judged,
            )
        )
    if gate and env.gate == "after-last-step":
        # At 100% after the bake time: the operator decides whether the old colour may go.
        steps.append(Step(StepKind.GATE))
    if not first_deploy:
        # The last moment a rollback is possible: make sure it still would be.
        steps.append(Step(StepKind.HEADROOM))
        steps.append(Step(StepKind.RETIRE, wait_s=env.scale_down_delay_s, poll_s=env.traffic.check_every_s))
    return tuple(steps)


def new_record(
    env: Environment,
    version: str,
    *,
    live_colour: Colour | None,
    live_release: Release | None,
    actor: Actor,
    now: float,
    token: str,
    ami: str | None = None,
    strategy: str | None = None,
    force_bake: bool = False,
) -> Record:
    """The record a deployment starts with: its plan frozen in, nothing run yet.

    `token` makes the id unique among deployments started in the same second.
    """
    steps = plan(env, first_deploy=live_colour is None, bake=ami is None, strategy=strategy)
    to = live_colour.other if live_colour else Colour.BLUE
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    rec = Record(
        id=f"{env.name}-{stamp}-{token}",
        environment=env.name,
        platform=env.platform,
        release=Release(version=version, ami=ami),
        from_colour=live_colour,
        to_colour=to,
        steps=steps,
        started_by=actor,
        created_at=now,
        updated_at=now,
        phase=Phase(steps[0].kind.value),
        weights=Weights.all_on(live_colour) if live_colour else None,
        force_bake=force_bake,
        analysis=env.analysis if live_colour else None,
    )
    origin = f"from {live_colour} ({live_release.version})" if live_colour and live_release else "first deploy"
    return rec.with_event(now, "deployment_started", f"{actor.describe()} deploys {version} to {to}, {origin}")

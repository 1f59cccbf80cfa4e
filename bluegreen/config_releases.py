"""The `releases:` section of bluegreen.yaml: named, ordered waves of environments.

Every mistake names its key and is found before anything runs: an unknown
environment, one named twice (in one wave or two), an empty wave, a
parallelism of 0, a release named like an environment (the verbs take either).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bluegreen.config_values import ValueReader
from bluegreen.settings import ENV_NAME, ON_FAILURE, PROMOTIONS, WHEN_LOCKED, ReleaseSettings, did_you_mean, keys

_DEFAULT = ReleaseSettings(name="")


class ReleaseRules(ValueReader):
    def releases(self, v: Any, envs: Mapping[str, Any]) -> dict[str, ReleaseSettings]:
        raw = self.mapping("releases", v, tuple(str(k) for k in (v if isinstance(v, dict) else {})))
        return {str(name): self.release(str(name), body, envs) for name, body in raw.items()}

    def release(self, name: str, body: Any, envs: Mapping[str, Any]) -> ReleaseSettings:
        k = f"releases.{name}"
        if not ENV_NAME.match(name):
            self.fail(
                k,
                f"release name {name!r} is not valid",
                "use lowercase letters, digits and '-', starting with a letter, at most 28 characters",
            )
        if name in envs:
            self.fail(k, f"{name!r} is also an environment's name", "name the release differently (e.g. `all-prod`)")
        r = self.mapping(k, body, keys(ReleaseSettings))
        d = _DEFAULT
        parallelism = d.parallelism
        if "parallelism" in r:
            parallelism = self.int_(f"{k}.parallelism", r["parallelism"], d.parallelism, lo=1)
        return ReleaseSettings(
            name=name,
            waves=self.waves(f"{k}.waves", r.get("waves"), envs),
            parallelism=parallelism,
            on_failure=self.str_(f"{k}.on_failure", r.get("on_failure"), d.on_failure, ON_FAILURE),
            when_locked=self.str_(f"{k}.when_locked", r.get("when_locked"), d.when_locked, WHEN_LOCKED),
            lock_wait_s=self.seconds(f"{k}.lock_wait", r.get("lock_wait"), d.lock_wait_s),
            promotion=self.str_(f"{k}.promotion", r.get("promotion"), d.promotion, PROMOTIONS),
        )

    def waves(self, k: str, v: Any, envs: Mapping[str, Any]) -> tuple[tuple[str, ...], ...]:
        if not isinstance(v, list) or not v:
            self.fail(
                k,
                "is required: a list of waves, each a list of environments",
                "write `waves: [[staging], [prod-us, prod-eu]]`",
            )
            return ()
        seen: dict[str, str] = {}
        waves = []
        for i, wave in enumerate(v):
            wk = f"{k}[{i}]"
            if not isinstance(wave, list) or not wave:
                self.fail(
                    wk,
                    "is an empty wave" if wave == [] else "must be a list of environments",
                    "name at least one environment in each wave, or remove it",
                )
                continue
            names = self.str_list(wk, wave)
            for j, env in enumerate(names):
                ek = f"{wk}[{j}]"
                if env not in envs:
                    self.fail(
                        ek,
                        f"no environment named {env!r}" + did_you_mean(env, envs),
                        f"use one of: {', '.join(sorted(envs))}",
                    )
                elif env in seen:
                    self.fail(
                        ek, f"environment {env!r} is already in {seen[env]}", "name each environment once per release"
                    )
                else:
                    seen[env] = wk
            waves.append(names)
        return tuple(waves)

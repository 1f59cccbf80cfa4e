"""The sandbox's network: a VPC and two subnets in two availability zones (infra/sandbox).

On AWS the config names the network (aws.vpc_id, aws.subnet_ids); the
sandbox makes its own, from its own state, before any environment.
"""

from __future__ import annotations

from bluegreen.adapters.aws.stacks import Network
from bluegreen.adapters.terraform import Stack, TerraformRunner
from bluegreen.errors import UsageError

NETWORK = Stack("sandbox", ("sandbox", "network"), title="sandbox network")


def apply_network(runner: TerraformRunner) -> Network:
    """Create (or update) the network."""
    region = runner.settings.region
    outputs = runner.apply(NETWORK, {"availability_zones": [f"{region}a", f"{region}b"]})
    return Network(vpc_id=str(outputs["vpc_id"]), subnet_ids=tuple(outputs["subnet_ids"]))


def read_network(runner: TerraformRunner) -> Network | None:
    """The network as its state records it; None before `sandbox up` made it."""
    outputs = runner.outputs(NETWORK)
    if not outputs:
        return None
    return Network(vpc_id=str(outputs["vpc_id"]), subnet_ids=tuple(outputs["subnet_ids"]))


def network(runner: TerraformRunner) -> Network:
    """The network the sandbox made, or a clear error saying to make it."""
    made = read_network(runner)
    if made is None:
        raise UsageError(
            "the sandbox has no network yet",
            where=str(runner.settings.workdir(NETWORK)),
            hint="run `bluegreen sandbox up`",
        )
    return made

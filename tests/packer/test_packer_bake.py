"""PackerBaker against the real `packer` binary and a real moto server (the `aws_env` fixture).

The template is the project's own packer/app.pkr.hcl; in the sandbox it runs
with `communicator=none` (nothing to SSH into), the setting the sandbox
config gives it through `bake.variables`.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bluegreen.adapters.aws.session import AwsTarget, client
from bluegreen.adapters.packer import PackerBaker, PackerError, build_argv, run_packer
from bluegreen.errors import ConfigError, MissingToolError, ToolError

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "packer" / "app.pkr.hcl"
# moto's image catalogue has no Amazon Linux 2023 (the template's default base).
SANDBOX_VARIABLES = {"communicator": "none", "source_ami_name": "amzn2-ami-hvm-*-x86_64-gp2"}

pytestmark = pytest.mark.slow


def make_app(root: Path, body: str = "ok") -> Path:
    app = root / "app"
    app.mkdir(parents=True, exist_ok=True)
    (app / "app.py").write_text(
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        f"    return [b'{body}']\n"
    )
    return app


def images(endpoint: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = client(AwsTarget("us-east-1", endpoint), "ec2").describe_images(Owners=["self"])[
        "Images"
    ]
    return result


def tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


@pytest.fixture
def progress() -> list[str]:
    return []


@pytest.fixture
def baker(aws_env: str, tmp_path: Path, progress: list[str], monkeypatch: pytest.MonkeyPatch) -> PackerBaker:
    # The endpoint reaches Packer from the AwsTarget alone (AWS_ENDPOINT_URL is the other test's case).
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    return PackerBaker(
        AwsTarget("us-east-1", aws_env),
        TEMPLATE,
        make_app(tmp_path),
        variables=SANDBOX_VARIABLES,
        progress=progress.append,
    )


def test_a_bake_makes_a_tagged_ami_and_streams_progress(baker: PackerBaker, aws_env: str, progress: list[str]) -> None:
    result = baker.bake("web", "v1.0.0")

    assert not result.reused
    assert result.source_hash == baker.source_hash("v1.0.0")
    [image] = images(aws_env)
    assert image["ImageId"] == result.ami
    assert image["State"] == "available"
    assert tags(image) == {
        "Name": "bluegreen web v1.0.0",
        "Version": "v1.0.0",
        "SourceHash": result.source_hash,
        "Environment": "web",
        "ManagedBy": "bluegreen",
    }
    assert image["Name"].startswith(f"bluegreen-web-v1.0.0-{result.source_hash[:12]}-")
    snapshot_id = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    [snapshot] = client(AwsTarget("us-east-1", aws_env), "ec2").describe_snapshots(SnapshotIds=[snapshot_id])[
        "Snapshots"
    ]
    assert tags(snapshot)["SourceHash"] == result.source_hash
    assert tags(snapshot)["ManagedBy"] == "bluegreen"
    # Decoded ui lines, as they happen; no machine-readable escapes reach the operator.
    assert any(f"Creating AMI bluegreen-web-v1.0.0-{result.source_hash[:12]}" in line for line in progress)
    assert "==> amazon-ebs.app: No volumes to clean up, skipping" in progress
    assert progress[-1] == f"baked {result.ami} for web v1.0.0"


def test_baking_the_same_source_again_reuses_the_ami(baker: PackerBaker, aws_env: str, progress: list[str]) -> None:
    first = baker.bake("web", "v1.0.0")
    progress.clear()

    again = baker.bake("web", "v1.0.0")

    assert again.reused
    assert again.ami == first.ami
    assert again.source_hash == first.source_hash
    assert [i["ImageId"] for i in images(aws_env)] == [first.ami]
    assert progress == [f"reusing {first.ami}: already baked for web from source {first.source_hash[:12]}"]


def test_a_changed_source_gives_a_new_ami_with_the_new_hash(baker: PackerBaker, aws_env: str) -> None:
    first = baker.bake("web", "v1.0.0")
    make_app(baker.artifact.parent, body="changed")

    second = baker.bake("web", "v1.0.0")

    assert not second.reused
    assert second.ami != first.ami
    assert second.source_hash != first.source_hash
    by_id = {i["ImageId"]: tags(i) for i in images(aws_env)}
    assert by_id[second.ami]["SourceHash"] == second.source_hash
    assert by_id[first.ami]["SourceHash"] == first.source_hash


def test_force_bakes_again_even_when_the_source_is_unchanged(baker: PackerBaker, aws_env: str) -> None:
    first = baker.bake("web", "v1.0.0")

    forced = baker.bake("web", "v1.0.0", force=True)

    assert not forced.reused
    assert forced.ami != first.ami
    assert forced.source_hash == first.source_hash
    assert len(images(aws_env)) == 2  # the AMI names never collide, even within one second


def test_an_ami_of_another_environment_is_not_reused(baker: PackerBaker, aws_env: str) -> None:
    web = baker.bake("web", "v1.0.0")

    api = baker.bake("api", "v1.0.0")

    assert not api.reused
    assert api.ami != web.ami


def test_the_endpoint_follows_aws_endpoint_url_like_boto3(aws_env: str, tmp_path: Path) -> None:
    """An AwsTarget without an endpoint: boto3 and Packer both use AWS_ENDPOINT_URL (set by aws_env)."""
    baker = PackerBaker(AwsTarget("us-east-1"), TEMPLATE, make_app(tmp_path), variables=SANDBOX_VARIABLES)

    result = baker.bake("web", "v1.0.0")

    assert [i["ImageId"] for i in images(aws_env)] == [result.ami]
    assert baker.bake("web", "v1.0.0").reused


def test_a_missing_source_ami_fails_with_packers_own_message(aws_env: str, tmp_path: Path) -> None:
    baker = PackerBaker(
        AwsTarget("us-east-1", aws_env),
        TEMPLATE,
        make_app(tmp_path),
        source_ami="ami-12345678",
        variables=SANDBOX_VARIABLES,
    )

    with pytest.raises(PackerError) as e:
        baker.bake("web", "v1.0.0")

    err = e.value
    assert isinstance(err, ToolError)
    assert err.tool == "packer" and err.returncode == 1
    assert err.argv[:3] == ["packer", "build", "-machine-readable"]
    assert "-var" in err.argv and "source_ami=ami-12345678" in err.argv
    assert "InvalidAMIID.NotFound: The image id '[ami-12345678]' does not exist" in err.packer_message
    assert "InvalidAMIID.NotFound" in str(err)
    assert err.where == str(TEMPLATE)
    assert "packer validate" in err.hint
    assert images(aws_env) == []


@pytest.mark.parametrize(
    ("variables", "packer_says"),
    [
        ({"source_ami_name": "no-such-image-*"}, ["No AMI was found matching filters", "no-such-image-*"]),
        ({"no_such_variable": "1"}, ['A "no_such_variable" variable was passed in the command line but was not found']),
    ],
)
def test_a_bad_setting_fails_with_packers_own_message(
    aws_env: str, tmp_path: Path, variables: dict[str, str], packer_says: list[str]
) -> None:
    baker = PackerBaker(
        AwsTarget("us-east-1", aws_env), TEMPLATE, make_app(tmp_path), variables={**SANDBOX_VARIABLES, **variables}
    )

    with pytest.raises(PackerError) as e:
        baker.bake("web", "v1.0.0")

    for words in packer_says:
        assert words in e.value.packer_message


def test_a_broken_template_fails_with_packers_own_message(aws_env: str, tmp_path: Path) -> None:
    packer_dir = shutil.copytree(REPO / "packer", tmp_path / "packer")
    template = packer_dir / "app.pkr.hcl"
    template.write_text(template.read_text().replace("instance_type       = var.instance_type", "instance_typo = 1"))
    baker = PackerBaker(AwsTarget("us-east-1", aws_env), template, make_app(tmp_path), variables=SANDBOX_VARIABLES)

    with pytest.raises(PackerError) as e:
        baker.bake("web", "v1.0.0")

    assert "Unsupported argument" in e.value.packer_message
    assert 'An argument named "instance_typo" is not expected here' in e.value.packer_message


def test_a_missing_packer_binary_says_to_run_make_setup(tmp_path: Path) -> None:
    baker = PackerBaker(
        AwsTarget("us-east-1", "http://127.0.0.1:9"), TEMPLATE, make_app(tmp_path), packer="packer-not-installed"
    )

    with pytest.raises(MissingToolError) as e:
        baker.bake("web", "v1.0.0", force=True)  # force: straight to Packer, no lookup

    assert "packer-not-installed is not installed" in e.value.what
    assert "make setup" in e.value.hint


def test_a_missing_artifact_is_a_config_error_before_anything_runs(tmp_path: Path) -> None:
    baker = PackerBaker(AwsTarget("us-east-1", "http://127.0.0.1:9"), TEMPLATE, tmp_path / "no-app")

    with pytest.raises(ConfigError) as e:
        baker.bake("web", "v1.0.0")

    assert "no-app" in e.value.what


def test_the_provisioning_files_are_part_of_the_hash(tmp_path: Path) -> None:
    packer_dir = shutil.copytree(REPO / "packer", tmp_path / "packer")
    baker = PackerBaker(AwsTarget("us-east-1"), packer_dir / "app.pkr.hcl", make_app(tmp_path))
    before = baker.source_hash("v1")
    script = packer_dir / "provision" / "install-release.sh"
    script.write_text(script.read_text() + "\n# changed\n")

    assert baker.source_hash("v1") != before
    assert set(baker.hash_inputs()) == {"template", "artifact", "provision", "plugins"}
    changed = baker.source_hash("v1")
    plugins = packer_dir / "plugins.pkr.hcl"
    plugins.write_text(plugins.read_text().replace(">= 1.3.0", ">= 1.4.0"))
    assert baker.source_hash("v1") != changed  # another plugin version may bake another image


class BlackHole:
    """An API endpoint that accepts connections and answers nothing until `release()`, then refuses them."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.server.accept()[0])
            except OSError:  # released
                return

    def release(self) -> None:
        self.server.close()
        for conn in self.held:
            conn.close()
        self.thread.join(timeout=5)


def test_a_bake_that_outlives_its_timeout_is_interrupted(tmp_path: Path) -> None:
    """Real Packer stuck on an API that answers nothing: it gets SIGINT at the timeout and says it timed out.

    Packer cancels on SIGINT but its request in flight hangs on (so would it on AWS): the API
    comes back a few seconds after the timeout, and Packer then stops, long before its grace ends.
    """
    variables = {
        **SANDBOX_VARIABLES,
        "version": "v1",
        "source_hash": "abc",
        "environment": "web",
        "region": "us-east-1",
        "app_artifact": str(make_app(tmp_path)),
    }
    env = {"PATH": "/usr/bin:/bin", "CHECKPOINT_DISABLE": "1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    hole = BlackHole()
    back = threading.Timer(6, hole.release)
    back.start()
    try:
        argv = build_argv(TEMPLATE, {**variables, "ec2_endpoint": hole.endpoint})
        began = time.monotonic()
        with pytest.raises(PackerError) as e:
            run_packer(argv, cwd=tmp_path, env=env, timeout_s=3)
        took = time.monotonic() - began
    finally:
        back.cancel()
        hole.release()

    assert "timed out after 3s" in e.value.packer_message
    assert 3 <= took < 120, took  # the interrupt stopped it, not the 300 s grace's SIGKILL


# -- the template and its provisioning files, checked by their own tools -------------------


def test_the_template_validates_and_is_formatted() -> None:
    required = {"version": "v1", "source_hash": "abc", "environment": "web", "app_artifact": str(REPO / "packer")}
    validate = build_argv(TEMPLATE, required)
    validate[1:3] = ["validate"]
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "CHECKPOINT_DISABLE": "1"}
    checked = subprocess.run(validate, capture_output=True, text=True, env=env, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    formatted = subprocess.run(["packer", "fmt", "-check", str(TEMPLATE)], capture_output=True, text=True, timeout=60)
    assert formatted.returncode == 0, f"run `packer fmt {TEMPLATE}`"


def test_the_install_script_is_valid_bash() -> None:
    script = REPO / "packer" / "provision" / "install-release.sh"
    checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr

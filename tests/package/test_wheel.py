"""bluegreen as a team installs it: the wheel in a fresh virtualenv, used from the service's own repository.

The wheel is built the way a release is (`python -m build`: the sdist, then
the wheel from the sdist), installed non-editable into a new virtualenv, and
run from a directory outside the source tree holding only the example app
and what `bluegreen init` wrote. The deploys must end as they do from the
source tree (tests/e2e): green live at 100%, read back, blue retired.

The wheel's dependencies are installed offline from a wheelhouse of the
versions the development virtualenv holds, built once and kept in the user's
cache directory; a fresh install from it takes seconds instead of minutes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from bluegreen import resources
from tests.e2e.world import gone, wait_for

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
ENV = "demo"


def run(argv: Sequence[str | Path], *, timeout: float, **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )
    assert done.returncode == 0, f"{' '.join(map(str, argv))} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def only(paths: Iterator[Path]) -> Path:
    found = list(paths)
    assert len(found) == 1, found
    return found[0]


def wheelhouse(wheel: Path) -> Path:
    """Wheels of the wheel's dependencies (with the sandbox extra) at the development virtualenv's versions."""
    frozen = run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"], timeout=120).stdout
    name, version = wheel.name.split("-")[:2]
    with zipfile.ZipFile(wheel) as zf:
        metadata = zf.read(f"{name}-{version}.dist-info/METADATA").decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist")]
    key = hashlib.sha256("\n".join([frozen, *requires]).encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bluegreen-tests"
    house = cache / f"wheelhouse-{key}"
    if house.is_dir():
        return house
    with resources.staged(house) as staging:
        constraints = staging / "constraints.txt"
        constraints.write_text(frozen)
        pip_wheel = [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", staging, "-c", constraints]
        run([*pip_wheel, f"{wheel}[sandbox]"], timeout=480)
        for own in staging.glob("bluegreen-*.whl"):
            own.unlink()
    return house


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ directory of a fresh virtualenv holding the wheel built from this tree (not editable)."""
    base = tmp_path_factory.mktemp("package")
    dist = base / "dist"
    built = run([sys.executable, "-m", "build", "--outdir", dist, REPO], timeout=300)
    assert "BuildBackendWarning" not in built.stdout + built.stderr
    wheel = only(dist.glob("bluegreen-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    for shipped in ("infra/modules/slot/main.tf", "infra/sandbox/main.tf", "packer/provision/install-release.sh"):
        assert f"bluegreen/_bundled/{shipped}" in names
    venv = base / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], timeout=120)
    house = wheelhouse(wheel)
    pip_install = [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--quiet"]
    run([*pip_install, "--no-compile", "--no-index", "--find-links", house, f"{wheel}[sandbox]"], timeout=300)
    return venv / "bin"


def user_env(bin_dir: Path) -> dict[str, str]:
    """A shell of a user of the installed tool: its bin/ first, nothing of this tree on the import path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BLUEGREEN_CONFIG", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["CHECKPOINT_DISABLE"] = "1"
    return env  # BLUEGREEN_TF_PROVIDER_MIRROR passes through: terraform finds the provider offline


def test_the_version_is_the_packages(installed: Path, tmp_path: Path) -> None:
    shown = run([installed / "bluegreen", "--version"], timeout=60, cwd=tmp_path, env=user_env(installed))
    assert shown.stdout.strip() == "bluegreen, version 0.1.0"


def test_the_installed_wheel_deploys_v1_then_v2_in_the_sandbox_with_the_config_init_wrote(
    installed: Path, tmp_path: Path
) -> None:
    service = tmp_path / "service"
    shutil.copytree(REPO / "examples" / "app", service / "app", ignore=shutil.ignore_patterns("__pycache__"))
    env = user_env(installed)

    def bluegreen(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run([installed / "bluegreen", *args], timeout=timeout, cwd=service, env=env)

    where = run(
        [installed / "python", "-c", "import bluegreen; print(bluegreen.__file__)"], timeout=60, cwd=service, env=env
    )
    assert Path(where.stdout.strip()).is_relative_to(installed.parent), where.stdout

    bluegreen("init", "--platform", "aws", "--sandbox", "--environment", ENV, "--app", "app")
    assert (service / "packer" / "app.pkr.hcl").is_file()
    # The example app refuses to start without its secret: named as the file's comment says.
    config = service / "bluegreen.yaml"
    text = config.read_text()
    assert "      secrets: {}\n" in text
    config.write_text(
        text.replace("      secrets: {}\n", '      secrets: {APP_SECRET: "ssm:/bluegreen/sandbox/app-secret"}\n')
    )
    bluegreen("validate")
    state = service / ".bluegreen"
    try:
        bluegreen("sandbox", "up", timeout=420)
        bluegreen("deploy", ENV, "--version", "v1", timeout=420)
        second = bluegreen("deploy", ENV, "--version", "v2", timeout=420)
        st = json.loads(bluegreen("status", ENV, "--json").stdout)
        # Terraform ran the wheel's modules, materialized in the state directory, by relative path.
        workdir = state / "sandbox" / "terraform" / ENV / "environment"
        source = json.loads((workdir / "main.tf.json").read_text())["module"]["main"]["source"]
        assert source.startswith("../")
        assert (workdir / source).resolve().is_relative_to((state / "resources").resolve())
    finally:
        pid = json.loads((state / "sandbox.json").read_text())["pid"] if (state / "sandbox.json").exists() else None
        bluegreen("sandbox", "down", timeout=120)
        if pid is not None:
            wait_for(lambda: gone(int(pid)), timeout=15, what=f"the sandbox server (pid {pid}) to exit")

    assert st["live_colour"] == "green"
    assert st["weights"] == {"blue": 0, "green": 100}
    assert st["release"]["version"] == "v2" and st["deployment"] is None
    for shown in ("blue 90% / green 10% (read back)", "blue 50% / green 50% (read back)", "blue retired"):
        assert shown in second.stdout, shown

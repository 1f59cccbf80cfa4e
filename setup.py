"""The build step pyproject.toml cannot express: the wheel carries infra/ and packer/ as package data.

The repository's infra/ and packer/ stay the one source; the build copies
them into bluegreen/_bundled/ of the wheel only (an editable install reads
them in place), where bluegreen/resources.py finds them. Tool leftovers
(a terraform working directory, state files) are never copied.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BUNDLED = ("infra", "packer")
LEFTOVERS = shutil.ignore_patterns(".terraform", "*.tfstate", "*.tfstate.backup", ".terraform.lock.hcl", "__pycache__")


class BuildWithResources(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for name in BUNDLED:
            target = Path(self.build_lib) / "bluegreen" / "_bundled" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(name, target, ignore=LEFTOVERS)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        if not getattr(self, "editable_mode", False):
            bundled = Path(self.build_lib) / "bluegreen" / "_bundled"
            outputs += [str(p) for p in sorted(bundled.rglob("*")) if p.is_file()]
        return outputs


setup(cmdclass={"build_py": BuildWithResources})

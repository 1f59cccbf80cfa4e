"""Where bluegreen finds its Terraform modules and Packer template, and how an installed copy is materialized."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from bluegreen import resources

REPO = Path(__file__).resolve().parents[2]


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_from_the_source_tree_they_are_the_repositorys_own_and_nothing_is_copied(tmp_path: Path) -> None:
    assert resources.bundle() is None  # this virtualenv holds bluegreen editable
    assert resources.infra_dir(tmp_path) == REPO / "infra"
    assert resources.packer_template(tmp_path) == REPO / "packer" / "app.pkr.hcl"
    assert list(tmp_path.iterdir()) == []


def test_a_packaged_tree_is_copied_once_by_content_without_tool_leftovers(tmp_path: Path) -> None:
    src = tree(
        tmp_path / "src",
        {
            "infra/modules/slot/main.tf": "resource {}",
            "infra/modules/slot/.terraform/modules.json": "{}",
            "infra/sandbox/terraform.tfstate": "{}",
            "packer/app.pkr.hcl": "build {}",
            "packer/provision/install-release.sh": "#!/bin/sh\n",
        },
    )
    under = tmp_path / "state" / "resources"

    first = resources.materialize(src, under)

    copied = {p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file()}
    assert copied == {"infra/modules/slot/main.tf", "packer/app.pkr.hcl", "packer/provision/install-release.sh"}
    assert os.access(first / "packer" / "provision" / "install-release.sh", os.X_OK)
    assert resources.materialize(src, under) == first
    (src / "infra" / "modules" / "slot" / "main.tf").write_text("resource { changed }")
    second = resources.materialize(src, under)
    assert second != first and (second / "infra/modules/slot/main.tf").read_text() == "resource { changed }"
    assert sorted(p.name for p in under.iterdir()) == sorted([first.name, second.name])  # no staging left


def test_processes_materializing_at_once_all_get_one_complete_copy(tmp_path: Path) -> None:
    src = tree(tmp_path / "src", {f"infra/m{i}/main.tf": f"# {i}" * 1000 for i in range(20)})
    under = tmp_path / "resources"
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(resources.materialize(src, under))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert len(results) == 8 and len(set(results)) == 1
    assert [p.name for p in under.iterdir()] == [results[0].name]
    assert len(list(results[0].rglob("main.tf"))) == 20


def test_init_copies_the_packer_template_and_its_provisioning_without_its_readme() -> None:
    names = {name for name, _ in resources.packer_files()}
    assert names == {
        "app.pkr.hcl",
        "plugins.pkr.hcl",
        "provision/bluegreen-app.service",
        "provision/install-release.sh",
        "provision/record-image.sh",
        "provision/resolve-secrets.py",
    }

"""The user data parser and the image store's files, on examples (pure, no processes)."""

from __future__ import annotations

import base64
import tarfile
from pathlib import Path

import pytest

from bluegreen.sandbox.dataplane import imagestore, userdata
from bluegreen.sandbox.dataplane.userdata import SecretRef, UserDataError
from tests.sandbox.instances_world import cloud_config

CONTRACT_EXAMPLE = """#cloud-config
write_files:
  - path: /etc/bluegreen/app.env
    permissions: "0600"
    content: |
      APP_GREETING=hello
  - path: /etc/bluegreen/secrets.ref
    permissions: "0600"
    content: |
      APP_SECRET=ssm:/bluegreen/demo/app-secret
runcmd:
  - [systemctl, start, --no-block, bluegreen-app.service]
"""


def test_the_contracts_example() -> None:
    parsed = userdata.parse(CONTRACT_EXAMPLE)

    assert parsed.settings == {"APP_GREETING": "hello"}
    assert parsed.secrets == {"APP_SECRET": SecretRef("ssm", "/bluegreen/demo/app-secret")}
    assert parsed.starts_app


def test_empty_files_values_with_equals_signs_and_both_secret_kinds() -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"
    text = cloud_config({"APP_URL": "http://x/?a=b", "EMPTY": ""}, {"DB": f"secretsmanager:{arn}"})

    parsed = userdata.parse(text)

    assert parsed.settings == {"APP_URL": "http://x/?a=b", "EMPTY": ""}
    assert parsed.secrets == {"DB": SecretRef("secretsmanager", arn)}
    assert userdata.parse(cloud_config({}, {})).settings == {}


def test_runcmd_as_a_string_and_without_the_app() -> None:
    text = CONTRACT_EXAMPLE.replace("[systemctl, start, --no-block, bluegreen-app.service]", "systemctl start x")
    assert not userdata.parse(text).starts_app
    text = CONTRACT_EXAMPLE.replace(
        "[systemctl, start, --no-block, bluegreen-app.service]", "systemctl start bluegreen-app.service"
    )
    assert userdata.parse(text).starts_app


def test_decode_reads_what_aws_holds() -> None:
    assert userdata.decode(base64.b64encode(CONTRACT_EXAMPLE.encode()).decode()) == CONTRACT_EXAMPLE
    with pytest.raises(UserDataError, match="not base64-encoded"):
        userdata.decode("#cloud-config")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("#!/bin/bash\necho hi\n", "does not start with '#cloud-config'"),
        ("#cloud-config\nwrite_files: [\n", "not valid YAML"),
        ("#cloud-config\n- a\n", "not a mapping"),
        ("#cloud-config\nwrite_files: {}\n", "write_files is not a list"),
        ("#cloud-config\nwrite_files:\n  - content: x\n", "write_files[0] has no path"),
        ("#cloud-config\nruncmd: []\n", "no entry for /etc/bluegreen/app.env, /etc/bluegreen/secrets.ref"),
        (CONTRACT_EXAMPLE.replace("APP_GREETING=hello", "greeting=hello"), "app.env line 1: expected NAME=VALUE"),
        (CONTRACT_EXAMPLE.replace("APP_GREETING=hello", "APP_GREETING"), "app.env line 1: expected NAME=VALUE"),
        (CONTRACT_EXAMPLE.replace("ssm:/bluegreen", "vault:/bluegreen"), "APP_SECRET='vault:/bluegreen/demo/app"),
        (CONTRACT_EXAMPLE.replace("ssm:/bluegreen/demo/app-secret", "ssm:"), "is not a secret reference"),
        (
            CONTRACT_EXAMPLE.replace(
                'permissions: "0600"\n    content: |\n      APP_GREETING',
                "encoding: b64\n    content: |\n      APP_GREETING",
            ),
            "only plain content is supported",
        ),
    ],
)
def test_malformed_user_data_is_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(UserDataError) as e:
        userdata.parse(text)
    assert reason in str(e.value)


def test_an_env_file_skips_blank_lines_and_comments() -> None:
    assert imagestore.parse_env("\n# a comment\nA=1\n\nB_2=x y\n", where="f") == {"A": "1", "B_2": "x y"}


def test_the_image_store_records_and_finds_a_release(tmp_path: Path) -> None:
    app = tmp_path / "src"
    (app / "__pycache__").mkdir(parents=True)
    (app / "app.py").write_text("x = 1\n")
    (app / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
    store = tmp_path / "store"

    imagestore.record(store, "abc123", app, "v1", wsgi_app="app:other")
    entry = imagestore.lookup(store, "abc123")

    assert entry is not None
    assert (entry.version, entry.wsgi_app, entry.source_hash) == ("v1", "app:other", "abc123")
    assert sorted(p.name for p in entry.app_dir.iterdir()) == ["app.py"]
    assert imagestore.lookup(store, "def456") is None
    assert imagestore.lookup(store, "../store") is None  # a tag is never a path

    again = imagestore.record(store, "abc123", app, "v2")
    assert again.version == "v2" and again.wsgi_app == "app:application"
    assert sorted(p.name for p in store.iterdir()) == ["abc123"]


def test_a_tarball_artifact_is_unpacked(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x = 1\n")
    tarball = tmp_path / "release.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(tmp_path / "app.py", arcname="app.py")

    entry = imagestore.record(tmp_path / "store", "h1", tarball, "v1")

    assert (entry.app_dir / "app.py").read_text() == "x = 1\n"


@pytest.mark.parametrize("python", ["with extraction filters", "3.11.2, without"])
def test_a_tarball_reaching_outside_the_release_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, python: str
) -> None:
    if python.startswith("3.11.2"):
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    (tmp_path / "app.py").write_text("x = 1\n")
    with tarfile.open(tmp_path / "up.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "app.py", arcname="app.py")
        tar.add(tmp_path / "app.py", arcname="../escaped.py")
    with pytest.raises(tarfile.TarError):
        imagestore.record(tmp_path / "store", "h1", tmp_path / "up.tar.gz", "v1")
    for source_hash, kind, name, target in (
        ("h2", tarfile.SYMTYPE, "etc", "/etc"),
        ("h3", tarfile.LNKTYPE, "passwd", "../../../../../etc/passwd"),
    ):
        linked = tmp_path / f"{source_hash}.tar.gz"
        with tarfile.open(linked, "w:gz") as tar:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tar.addfile(info)
        with pytest.raises(tarfile.TarError):
            imagestore.record(tmp_path / "store", source_hash, linked, "v1")
    assert not (tmp_path / "escaped.py").exists() and not (tmp_path / "store" / "h1").exists()


def test_an_unreadable_entry_says_which_file(tmp_path: Path) -> None:
    entry = tmp_path / "h1"
    (entry / "app").mkdir(parents=True)
    (entry / "release.env").write_text("not an env line\n")

    with pytest.raises(imagestore.ImageStoreError, match=r"release.env line 1: expected NAME=VALUE"):
        imagestore.lookup(tmp_path, "h1")

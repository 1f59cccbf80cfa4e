"""The source hash: same inputs, same hash, on any machine; any real change, a new hash."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bluegreen.errors import ConfigError
from bluegreen.source_hash import collect, digest, source_hash


def make_release(root: Path) -> dict[str, Path]:
    app = root / "app"
    (app / "pkg").mkdir(parents=True)
    (app / "app.py").write_text('def application(environ, start_response):\n    return [b"ok"]\n')
    (app / "requirements.txt").write_text("gunicorn\n")
    (app / "pkg" / "__init__.py").write_text("X = 1\n")
    (root / "t.pkr.hcl").write_text("template\n")
    return {"artifact": app, "template": root / "t.pkr.hcl"}


def test_the_byte_stream_is_the_documented_one() -> None:
    stream = [
        b"bluegreen-source-hash v1\n",
        b"version 2:v1\n",
        b"setting 10:source_ami\n",
        b"value 5:ami-1\n",
        b"file 3:a/x\n",
        b"content 1:1\n",
    ]
    expected = hashlib.sha256(b"".join(stream)).hexdigest()
    assert digest("v1", [("a/x", b"1")], {"source_ami": "ami-1"}) == expected


def test_a_known_tree_has_a_known_hash(tmp_path: Path) -> None:
    """Pinned: a change here means every image in every account is baked again."""
    inputs = make_release(tmp_path)
    assert (
        source_hash("v1.0.0", inputs, {"source_ami": "ami-1"})
        == "2ef40bca50ca2b0bbd47f082f2949202bd28241375d3fc0ee000134b1ec61b5d"
    )


def test_the_same_release_in_another_directory_has_the_same_hash(tmp_path: Path) -> None:
    a = make_release(tmp_path / "one")
    b = make_release(tmp_path / "elsewhere" / "two")
    assert source_hash("v1", a) == source_hash("v1", b)


def test_timestamps_and_modes_do_not_count(tmp_path: Path) -> None:
    inputs = make_release(tmp_path)
    before = source_hash("v1", inputs)
    app_py = inputs["artifact"] / "app.py"
    os.utime(app_py, (1_000_000, 1_000_000))
    app_py.chmod(0o755)
    assert source_hash("v1", inputs) == before


def test_python_caches_are_ignored(tmp_path: Path) -> None:
    inputs = make_release(tmp_path)
    before = source_hash("v1", inputs)
    cache = inputs["artifact"] / "pkg" / "__pycache__"
    cache.mkdir()
    (cache / "__init__.cpython-311.pyc").write_bytes(b"\x00compiled")
    (inputs["artifact"] / "stray.pyc").write_bytes(b"\x00compiled")
    (inputs["artifact"] / ".pytest_cache").mkdir()
    (inputs["artifact"] / ".pytest_cache" / "v").write_text("x")
    assert source_hash("v1", inputs) == before


def test_directories_are_read_in_sorted_order_with_relative_posix_names(tmp_path: Path) -> None:
    inputs = make_release(tmp_path)
    names = [name for name, _ in collect(inputs)]
    assert names == [
        "artifact/app.py",
        "artifact/pkg/__init__.py",
        "artifact/requirements.txt",
        "template/t.pkr.hcl",
    ]


@pytest.mark.parametrize(
    "change",
    ["content", "rename", "new_file", "template", "version", "setting"],
)
def test_every_real_change_gives_a_new_hash(tmp_path: Path, change: str) -> None:
    inputs = make_release(tmp_path)
    before = source_hash("v1", inputs, {"source_ami": "ami-1"})
    version, settings = "v1", {"source_ami": "ami-1"}
    app = inputs["artifact"]
    if change == "content":
        (app / "app.py").write_text('def application(environ, start_response):\n    return [b"OK"]\n')
    elif change == "rename":
        (app / "app.py").rename(app / "main.py")
    elif change == "new_file":
        (app / "static.css").write_text("")
    elif change == "template":
        inputs["template"].write_text("template 2\n")
    elif change == "version":
        version = "v2"
    else:
        settings = {"source_ami": "ami-2"}
    assert source_hash(version, inputs, settings) != before


def test_moving_a_file_between_inputs_changes_the_hash(tmp_path: Path) -> None:
    inputs = make_release(tmp_path)
    before = source_hash("v1", inputs)
    assert source_hash("v1", {"artifact": inputs["template"], "template": inputs["artifact"]}) != before


def test_a_single_file_input_is_named_by_its_file_name(tmp_path: Path) -> None:
    tarball = tmp_path / "app-1.0.tar.gz"
    tarball.write_bytes(b"\x1f\x8b...")
    assert collect({"artifact": tarball}) == [("artifact/app-1.0.tar.gz", b"\x1f\x8b...")]
    renamed = tmp_path / "app-2.0.tar.gz"
    shutil.copy(tarball, renamed)
    assert source_hash("v1", {"artifact": tarball}) != source_hash("v1", {"artifact": renamed})


def test_length_prefixes_keep_names_and_contents_apart() -> None:
    assert digest("v", [("a", b"bc")]) != digest("v", [("ab", b"c")])
    assert digest("v", [("a", b"x"), ("b", b"y")]) != digest("v", [("a", b"xy")])
    assert digest("v1", []) != digest("v", [("1", b"")])


def test_a_missing_input_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        source_hash("v1", {"artifact": tmp_path / "no-such-app"})
    assert "no-such-app" in e.value.what
    assert "bluegreen.yaml" in e.value.hint


def test_the_same_name_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="a/x"):
        digest("v", [("a/x", b"1"), ("a/x", b"2")])


files = st.dictionaries(st.text(min_size=1, max_size=12), st.binary(max_size=32), max_size=6)


@given(files=files, settings=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4))
def test_order_of_files_and_settings_does_not_matter(files: dict[str, bytes], settings: dict[str, str]) -> None:
    forward = digest("v", list(files.items()), settings)
    backward = digest("v", list(reversed(files.items())), dict(reversed(settings.items())))
    assert forward == backward


@given(files=files, name=st.text(min_size=1, max_size=12), content=st.binary(max_size=32))
def test_adding_or_changing_a_file_always_changes_the_hash(files: dict[str, bytes], name: str, content: bytes) -> None:
    changed = {**files, name: content}
    if changed != files:
        assert digest("v", list(changed.items())) != digest("v", list(files.items()))

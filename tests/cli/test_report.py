"""`bluegreen report --html`: a finished canary deployment, made through the real CLI, rendered by headless Chromium.

The page must show its steps, weights and outcome, log nothing to the
console, and ask the network for nothing (the browser resolves no name at
all, and its network log is read). A control page that does log and fetch
proves the two checks can fail.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli import browser
from tests.cli.helpers import run, write_config

pytestmark = pytest.mark.timeout(240)

CANARY = {
    "strategy": "canary",
    "steps": [{"weight": 10, "wait": "400ms"}, {"weight": 50, "wait": "400ms"}],
    "check_every": "100ms",
}
SHIFT_ORANGE = (0xD0, 0x8A, 0x2C)  # report_html.STEP_COLOURS[shift]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """v1, then v2 through a canary: the second deployment's record and config."""
    tmp = tmp_path_factory.mktemp("report")
    cfg = write_config(tmp, traffic=CANARY, bake_time="300ms", scale_down_delay="200ms", promotion="auto")
    for version in ("v1", "v2"):
        res = run(cfg, "deploy", "web", "--version", version)
        assert res.returncode == 0, res.stdout + res.stderr
    res = run(cfg, "history", "web", "--json")
    latest = json.loads(res.stdout)[0]
    assert latest["status"] == "succeeded" and latest["release"]["version"] == "v2"
    return cfg, latest


def test_report_renders_in_chromium_with_steps_weights_and_outcome(
    finished: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    cfg, latest = finished
    page = tmp_path / "report.html"
    res = run(cfg, "report", "web", "--html", str(page))
    assert res.returncode == 0, res.stderr
    assert str(latest["id"]) in res.stdout
    html = page.read_text()
    # Nothing to fetch: no address in any src/href/url(), no script, no font.
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert not re.search(r"url\(|@import|@font-face|<script|<link", html, re.I)

    dom = browser.run(page, tmp_path / "chromium", "--dump-dom")
    assert dom.console == [], dom.console
    assert dom.fetched == [], dom.fetched
    text = dom.stdout
    assert f"Deployment {latest['id']} of v2 to web" in text
    assert 'id="outcome">succeeded: v2 serves all traffic on green<' in text
    for step in ("shift 10% to the new colour, hold 0.4s", "shift 50% to the new colour, hold 0.4s", "shift 100%"):
        assert step in text
    assert len(re.findall(r'<tr class="step done"', text)) == 11  # every step of a first-colour-live canary
    for weights in ("green 10%", "green 50%", "green 100%", "blue 90%", "blue 50%", "blue 0%"):
        assert f">{weights}<" in text, weights
    assert text.count('class="band shift"') == 3 and '<polyline class="weights"' in text
    assert "</svg>" in text and "</html>" in text

    png = tmp_path / "report.png"
    shot = browser.run(page, tmp_path / "chromium", f"--screenshot={png}", window="1280,900")
    assert shot.console == [] and shot.fetched == []
    assert browser.png_size(png) == (1280, 900)
    # The timeline was drawn: the shift bands' colour is on screen (a blank or half-loaded page has none).
    assert SHIFT_ORANGE in browser.png_colours(png, rows=520)


def test_the_browser_checks_see_console_messages_and_fetches(tmp_path: Path) -> None:
    page = tmp_path / "control.html"
    page.write_text(
        '<!DOCTYPE html><html><body><img src="http://example.invalid/x.png">'
        '<script>console.error("control message")</script></body></html>'
    )
    got = browser.run(page, tmp_path / "chromium", "--dump-dom")
    assert any("control message" in line for line in got.console), got.console
    assert got.fetched and all(u.startswith("http://example.invalid/") for u in got.fetched), got.fetched


def test_report_escapes_what_records_hold(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, traffic=CANARY)
    res = run(cfg, "deploy", "web", "--version", "<img src=x onerror=alert(1)>")
    assert res.returncode == 0, res.stderr
    page = tmp_path / "r.html"
    res = run(cfg, "report", "web", "--html", str(page))
    assert res.returncode == 0, res.stderr
    html = page.read_text()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["report", "nowhere", "--html", "{tmp}/r.html"], "no environment named 'nowhere'"),
        (["report", "web", "nope-123", "--html", "{tmp}/r.html"], "no deployment nope-123 in web"),
        (["report", "web", "--html", "{tmp}/missing/dir/r.html"], "cannot write the report"),
        (["report", "web"], "--html"),
    ],
)
def test_report_bad_input_is_exit_2(
    finished: tuple[Path, dict[str, object]], tmp_path: Path, args: list[str], said: str
) -> None:
    cfg, _ = finished
    res = run(cfg, *[a.format(tmp=tmp_path) for a in args])
    assert res.returncode == 2, res.stdout + res.stderr
    assert said in res.stderr
    assert not list(tmp_path.glob("**/r.html*"))


def test_report_of_an_environment_with_no_deployment_is_exit_2(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    res = run(cfg, "report", "web", "--html", str(tmp_path / "r.html"))
    assert res.returncode == 2 and "web has no deployment yet" in res.stderr
    assert "bluegreen deploy web --version VERSION" in res.stderr

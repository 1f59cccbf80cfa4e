"""Smoke checks over HTTP against one colour only, for both platforms.

The caller says where a colour answers (AWS: the test listener pointed at it;
one host: the new process's own address), so users never see a check and a
check never sees the old colour. Each configured check is a GET of a path,
an expected status, and optionally a text the body must contain (seed 000
looks for a known string on /about/). Redirects are not followed: a check
sees the status the application sent.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bluegreen.config import SmokeCheck
from bluegreen.model import Colour
from bluegreen.ports import SmokeResult

RELEASE = "{release}"  # in a check's `contains`: the version being deployed
MAX_BODY = 1 << 20  # enough for any page a smoke check looks into
SNIPPET = 160


@dataclass(frozen=True)
class Answer:
    """What one GET got: a status and body, or why there was none."""

    status: int | None
    body: str = ""
    error: str = ""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def fetch(url: str, timeout_s: float) -> Answer:
    request = urllib.request.Request(url, headers={"User-Agent": "bluegreen-smoke"})
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            return Answer(int(response.status), _text(response.read(MAX_BODY)))
    except urllib.error.HTTPError as e:  # 4xx/5xx/3xx still carry a status and a body
        with e:
            return Answer(int(e.code), _text(e.read(MAX_BODY)))
    except urllib.error.URLError as e:
        if isinstance(e.reason, TimeoutError):
            return Answer(None, error=f"no answer within {timeout_s:g}s")
        return Answer(None, error=_reason(e.reason))
    except TimeoutError:
        return Answer(None, error=f"no answer within {timeout_s:g}s")
    except (OSError, http.client.HTTPException) as e:
        return Answer(None, error=_reason(e))


def _reason(e: object) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connection refused (nothing listening)"
    return str(e) or type(e).__name__


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def snippet(body: str) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= SNIPPET else flat[:SNIPPET] + "..."


def judge(check: SmokeCheck, url: str, answer: Answer, release: str = "") -> str:
    """Why this answer fails the check ("" when it passes); `{release}` in `contains` is the release deployed."""
    if answer.status is None:
        return f"GET {url}: {answer.error}"
    if answer.status != check.status:
        return f"GET {url}: status {answer.status}, expected {check.status}; body: {snippet(answer.body)!r}"
    expected = check.contains.replace(RELEASE, release)
    if expected and expected not in answer.body:
        return f"GET {url}: status {answer.status} but the body lacks {expected!r}; body: {snippet(answer.body)!r}"
    return ""


class HttpSmoke:
    """The `Verifier` port: GET each configured path on the colour's own address."""

    def __init__(self, base_url: Callable[[Colour], str], checks: Sequence[SmokeCheck]) -> None:
        self._base_url = base_url
        self._checks = tuple(checks)

    def smoke(self, colour: Colour, release: str = "") -> SmokeResult:
        if not self._checks:
            return SmokeResult(ok=True, detail="no smoke checks configured")
        base = self._base_url(colour).rstrip("/")
        failures = []
        passed = []
        for check in self._checks:
            url = base + check.path
            failure = judge(check, url, fetch(url, check.timeout_s), release)
            if failure:
                failures.append(failure)
            else:
                passed.append(f"{check.path} {check.status}")
        if failures:
            return SmokeResult(
                ok=False,
                detail=f"{len(failures)} of {len(self._checks)} smoke checks on {colour} failed: "
                + "; ".join(failures),
            )
        return SmokeResult(ok=True, detail=f"{len(passed)} smoke checks passed on {colour}: {', '.join(passed)}")

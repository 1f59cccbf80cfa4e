"""Pure parsers of terraform's output: `-json` lines, progress an operator reads, errors, outputs."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from bluegreen.adapters.aws import denied
from bluegreen.adapters.terraform.commands import MODULE

ERROR_TAIL_CHARS = 3000


def json_messages(stdout: str) -> list[dict[str, Any]]:
    """The machine-readable lines of `-json` output (anything else is skipped)."""
    messages = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict):
            messages.append(message)
    return messages


def _short(text: str) -> str:
    return text.replace(f"module.{MODULE}.", "")


def progress_lines(messages: Iterable[Mapping[str, Any]]) -> list[str]:
    """What an operator wants to see: each resource done or failed, warnings, the summary."""
    lines = []
    for m in messages:
        kind = m.get("type")
        if kind in ("apply_complete", "apply_errored", "change_summary") or (
            kind == "diagnostic" and m.get("@level") == "warn"
        ):
            lines.append(_short(str(m.get("@message", ""))))
    return lines


def error_text(messages: Iterable[Mapping[str, Any]], stdout: str, stderr: str) -> str:
    """Terraform's own words for a failure: its error diagnostics, else the tail of what it printed."""
    errors = []
    for m in messages:
        diag = m.get("diagnostic")
        if m.get("type") != "diagnostic" or not isinstance(diag, Mapping) or diag.get("severity") != "error":
            continue
        text = f"Error: {diag.get('summary', '')}"
        if diag.get("address"):
            text += f" ({_short(str(diag['address']))})"
        if diag.get("detail"):
            text += f": {diag['detail']}"
        errors.append(text)
    text = ("\n".join(errors) if errors else (stderr.strip() or stdout.strip()))[-ERROR_TAIL_CHARS:]
    refused = denied.explain(text)
    return f"{refused}; {denied.POLICY_HINT}\n{text}" if refused else text


def state_holds_resources(text: str) -> bool:
    """Whether a state file (format 4) records any resource a destroy would remove.

    Data sources are read, never created: a state holding only those holds
    nothing to destroy. A file that is not a state (cut short by a kill) is
    taken to hold something, so that terraform itself is asked.
    """
    if not text.strip():
        return False
    try:
        state = json.loads(text)
    except ValueError:
        return True
    resources = state.get("resources") if isinstance(state, dict) else None
    if not isinstance(resources, list):
        return True
    return any(not isinstance(r, Mapping) or (r.get("mode") != "data" and r.get("instances") != []) for r in resources)


def parse_outputs(text: str) -> dict[str, Any]:
    """`terraform output -json` -> name -> value."""
    data = json.loads(text or "{}")
    return {str(name): body.get("value") for name, body in data.items()}


def module_outputs(values: Mapping[str, Any]) -> dict[str, Any] | None:
    """The module's outputs, from the root module's (which holds them whole as one); None when there are none."""
    module = values.get(MODULE)
    return dict(module) if isinstance(module, Mapping) and module else None


def applied_outputs(messages: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """An apply's outputs from its `-json` lines: name -> value; None when they do not say them all.

    The last `outputs` message holds the values as applied (the plan's says only each one's action):
    https://developer.hashicorp.com/terraform/internals/machine-readable-ui#outputs. A sensitive output
    comes without its value, and then only `terraform output` can tell it.
    """
    found = [m.get("outputs") for m in messages if m.get("type") == "outputs"]
    if not found or not isinstance(found[-1], Mapping):
        return None
    bodies = found[-1]
    if not all(isinstance(b, Mapping) and "value" in b for b in bodies.values()):
        return None
    return {str(name): body["value"] for name, body in bodies.items()}

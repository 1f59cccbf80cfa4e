"""Packer's `-machine-readable` output, read by pure functions (tested on recorded output).

Split from packer.py, which runs Packer; this reads what it printed: the
machine lines, the artifact (AMI) id, and the lines worth showing on failure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

TAIL_LINES = 20


@dataclass(frozen=True)
class MachineLine:
    """One `-machine-readable` line: timestamp,target,type,data..., fields already unescaped."""

    timestamp: str
    target: str
    kind: str
    data: tuple[str, ...]


def unescape(value: str) -> str:
    """Undo Packer's machine-readable escaping of commas and line breaks."""
    return value.replace("%!(PACKER_COMMA)", ",").replace("\\n", "\n").replace("\\r", "\r")


def parse_line(line: str) -> MachineLine | None:
    """None for anything that is not a machine-readable line (e.g. a crash on stderr)."""
    fields = line.rstrip("\r\n").split(",")
    if len(fields) < 3 or not fields[0].isdigit():
        return None
    return MachineLine(fields[0], fields[1], fields[2], tuple(unescape(f) for f in fields[3:]))


def readable(line: str) -> list[str]:
    """What an operator should see of one output line: the `ui` text, or the raw line."""
    parsed = parse_line(line)
    if parsed is None:
        text = line.rstrip()
        return [text] if text else []
    if parsed.kind != "ui" or len(parsed.data) < 2:
        return []  # artifact, error-count, ...: data for parsers, the ui lines say the same in words
    return [t.rstrip() for t in parsed.data[1].split("\n") if t.strip()]


def artifact_id_from_lines(lines: Iterable[str]) -> str | None:
    """The id of the first artifact (`<ts>,<build>,artifact,0,id,<id>`)."""
    for line in lines:
        parsed = parse_line(line)
        if parsed and parsed.kind == "artifact" and parsed.data[:2] == ("0", "id") and len(parsed.data) > 2:
            return parsed.data[2]
    return None


def artifact_id_from_manifest(text: str) -> str | None:
    """The artifact id of the last build of the last run in a manifest post-processor's JSON."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return None
    builds = doc.get("builds") if isinstance(doc, dict) else None
    if not isinstance(builds, list):
        return None
    run = doc.get("last_run_uuid")
    mine = [b for b in builds if isinstance(b, dict) and (not run or b.get("packer_run_uuid") == run)]
    ids = [str(b["artifact_id"]) for b in mine if b.get("artifact_id")]
    return ids[-1] if ids else None


def ami_from_artifact_id(artifact_id: str, region: str) -> str | None:
    """`us-east-1:ami-1,eu-west-1:ami-2` -> the AMI in `region` (a bare `ami-...` is taken as is)."""
    amis = {}
    for part in artifact_id.split(","):
        where, _, ami = part.strip().rpartition(":")
        amis[where] = ami
    if region in amis:
        return amis[region]
    if list(amis) == [""]:
        return amis[""]
    return None


def error_text(lines: Sequence[str]) -> str:
    """Packer's own words for why it failed.

    A build's errors (`<build>,error,<text>`) are the most precise; before any
    build starts (a template that does not parse) only `ui,error` lines say
    it; a crash writes plain text. Without any of them: the last lines.
    """
    build_errors: list[str] = []
    ui_errors: list[str] = []
    plain: list[str] = []
    for line in lines:
        parsed = parse_line(line)
        if parsed is None:
            if line.strip():
                plain.append(line.rstrip())
        elif parsed.kind == "error" and parsed.data:
            build_errors.append(f"{parsed.target}: {parsed.data[0].strip()}" if parsed.target else parsed.data[0])
        elif parsed.kind == "ui" and parsed.data[:1] == ("error",) and len(parsed.data) > 1:
            ui_errors.append(parsed.data[1].strip())
    chosen = build_errors or [e for e in ui_errors if e and not e.startswith("==> Some builds")] or plain
    if not chosen:
        chosen = [t for line in lines[-TAIL_LINES:] for t in readable(line)]
    return "\n".join(dict.fromkeys(chosen))  # once each, in order

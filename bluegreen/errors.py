"""One error root for everything bluegreen reports to an operator.

Every error says what failed, where, and what to run next, and carries the
exit code the CLI returns for it. Adapters wrap the errors of the tools and
SDKs they drive into one of these at their boundary, once.
"""

from __future__ import annotations

from collections.abc import Sequence

# Exit codes are a contract with CI systems and operators (README, "Exit codes").
EXIT_OK = 0
EXIT_ROLLED_BACK = 1
EXIT_BAD_INPUT = 2
EXIT_LOCKED = 3
EXIT_ROLLBACK_INCOMPLETE = 4
EXIT_CONFLICT = 5
EXIT_INTERNAL = 70


class BluegreenError(Exception):
    """Base of every error shown to an operator."""

    exit_code = EXIT_INTERNAL

    def __init__(self, what: str, *, where: str = "", hint: str = "") -> None:
        super().__init__(what)
        self.what = what
        self.where = where
        self.hint = hint

    def __str__(self) -> str:
        parts = [self.what]
        if self.where:
            parts.append(f"where: {self.where}")
        if self.hint:
            parts.append(f"next: {self.hint}")
        return "\n".join(parts)

    def as_dict(self) -> dict[str, object]:
        return {
            "error": type(self).__name__,
            "what": self.what,
            "where": self.where,
            "hint": self.hint,
            "exit_code": self.exit_code,
        }


class ConfigError(BluegreenError):
    """The configuration file or an argument is wrong; nothing was changed."""

    exit_code = EXIT_BAD_INPUT


class ConfigErrors(ConfigError):
    """Every problem found in one config file, reported together so one run shows them all."""

    def __init__(self, problems: Sequence[ConfigError]) -> None:
        self.problems = list(problems)
        first = self.problems[0]
        super().__init__(
            f"{len(self.problems)} problems in the config, the first: {first.what}", where=first.where, hint=first.hint
        )

    def as_dict(self) -> dict[str, object]:
        return {**super().as_dict(), "problems": [p.as_dict() for p in self.problems]}


class UsageError(BluegreenError):
    """A command was asked for something that cannot be done in this state."""

    exit_code = EXIT_BAD_INPUT


class MissingToolError(BluegreenError):
    """An external program bluegreen needs is not installed."""

    exit_code = EXIT_BAD_INPUT


class LockedError(BluegreenError):
    """Another deployment holds the environment."""

    exit_code = EXIT_LOCKED


class ConflictError(BluegreenError):
    """A conditional write lost: somebody else changed the record first."""

    exit_code = EXIT_CONFLICT


class NotFoundError(BluegreenError):
    exit_code = EXIT_BAD_INPUT


class AdapterError(BluegreenError):
    """An external system (AWS, a tool, a process) failed while doing a step."""

    exit_code = EXIT_ROLLED_BACK


class ToolError(AdapterError):
    """An external command exited non-zero.

    Carries the tool, its argv, its exit code and the tail of its output so
    the operator sees the tool's own words.
    """

    def __init__(
        self,
        tool: str,
        argv: Sequence[str],
        returncode: int,
        output_tail: str,
        *,
        where: str = "",
        hint: str = "",
    ) -> None:
        self.tool = tool
        self.argv = list(argv)
        self.returncode = returncode
        self.output_tail = output_tail
        what = f"{tool} exited with code {returncode}: {output_tail.strip() or '(no output)'}"
        super().__init__(what, where=where or " ".join(self.argv[:3]), hint=hint)


class OperatorNeededError(BluegreenError):
    """Something running stopped working (a sandbox process died): the message says what to run."""

    exit_code = EXIT_ROLLBACK_INCOMPLETE

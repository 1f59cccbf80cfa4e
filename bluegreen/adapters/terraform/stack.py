"""One stack: a module of infra/ applied from its own working directory and state."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stack:
    """One module applied from its own working directory and state."""

    module: str  # under infra/
    path: tuple[str, ...]  # the working directory under the stacks' root, and the S3 state key
    environment: str = ""
    colour: str = ""
    title: str = ""  # how messages name a stack of no environment

    @property
    def label(self) -> str:
        if self.colour:
            return f"slot {self.environment}/{self.colour}"
        if self.environment:
            return f"environment {self.environment}"
        return self.title or self.module

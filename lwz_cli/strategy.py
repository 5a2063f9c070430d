"""The writing strategies a user can ask for (`--strategy`, `strategy:` in config and recipes)."""

from __future__ import annotations

from enum import Enum

from lwz_cli.errors import UsageError


class Strategy(str, Enum):
    """A member equals its plain name (`Strategy.PLANNED == "planned"`) and JSON and
    f-strings write it as that name, so journals and events keep their strings."""

    AUTO = "auto"  # single within the model's one-pass reach, planned beyond
    SINGLE = "single"  # the whole answer in one pass
    PLANNED = "planned"  # an outline with word budgets, then section by section

    def __str__(self) -> str:  # Python 3.11+ would otherwise give "Strategy.AUTO"
        return self.value


STRATEGY_NAMES: tuple[str, ...] = tuple(s.value for s in Strategy)


def check_strategy(name: str) -> Strategy:
    """The strategy `--strategy NAME` asks for; a UsageError (exit 2) for any other name."""
    try:
        return Strategy(name)
    except ValueError:
        spoken = ", ".join(STRATEGY_NAMES[:-1]) + " or " + STRATEGY_NAMES[-1]
        raise UsageError(f"unknown --strategy {name!r}", hint=f"use {spoken}") from None

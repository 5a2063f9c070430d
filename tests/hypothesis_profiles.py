"""Hypothesis profiles for the fuzz tests (tests/test_fuzz_*.py).

`ci` (the default) is what `pytest` runs: a bounded number of examples so the
fuzz files add seconds, not minutes, to the fast tier. It is derandomized: the
examples are derived from each test's source, so every run (every CI job, every
machine) tries the same inputs and a failure reproduces with a plain rerun, never
a flake. With fixed inputs the example database would only replay what it
already tries, so it is off and CI writes no `.hypothesis/` folder.

`deep` (`HYPOTHESIS_PROFILE=deep pytest tests/test_fuzz_*.py`) is for long local
runs: random inputs, many more examples, and the local database (`.hypothesis/`,
git-ignored) so a failure found once is replayed first on the next run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, currently_in_test_context, event, settings
from hypothesis.database import DirectoryBasedExampleDatabase

# no deadline in either profile: a shared or loaded CI machine must not turn a slow
# example into a failure; the tests bound time themselves where time is the point
settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "deep",
    max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "10000")),
    deadline=None,
    database=DirectoryBasedExampleDatabase(".hypothesis/examples"),
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)


def costly(ci_examples: int) -> settings:
    """For a test whose examples take tens of milliseconds (files, the CLI): fewer of
    them under `ci`, to keep the fast tier fast; other profiles keep their own count."""
    return settings(max_examples=ci_examples) if PROFILE == "ci" else settings()


def outcome(label: str) -> None:
    """Count an outcome in the statistics (`--hypothesis-show-statistics`) of a fuzz test;
    nothing when a plain test calls the same helper."""
    if currently_in_test_context():
        event(label)

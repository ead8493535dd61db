"""Shared test fixtures: each started for real (see tests/fixtures/).

Property tests explore new random examples on a developer's machine; in CI (CI=true) they replay a fixed,
derandomised set, so a red CI means a change broke something, not that a new seed was drawn. No property has
a per-example deadline: these are small, shared machines.
"""

from hypothesis import settings

from tests.fixtures.servers import IN_CI

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile("ci" if IN_CI else "dev")

pytest_plugins = [
    "tests.fixtures.servers",
    "tests.fixtures.broker",
    "tests.fixtures.tsdb",
    "tests.fixtures.databases",
    "tests.fixtures.browser",
    "tests.fixtures.proxy",
    "tests.ingest.running",
    "tests.faults.summary",
]

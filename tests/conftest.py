"""Shared test fixtures: each started for real (see tests/fixtures/)."""

pytest_plugins = [
    "tests.fixtures.servers",
    "tests.fixtures.broker",
    "tests.fixtures.tsdb",
    "tests.fixtures.browser",
]

"""The fault suite's session summary: each fault's figures (also in .run/faults/<test>.json).

A plugin of the whole session (tests/conftest.py), not the fault folder's conftest: with several test
processes (``-n``) the main process collects nothing, so only a session plugin runs there. Each test process
keeps the figures of the faults it ran and hands their summary lines to the main one when it finishes."""

from __future__ import annotations

from typing import Any

import pytest
from _pytest.terminal import TerminalReporter

from tests.faults.checker import REPORTS

FROM_WORKERS: list[str] = []
"""Summary lines the test processes sent (empty without ``-n``)."""


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a test process: the main one prints the summary
        workeroutput["fault_summaries"] = [report.summary() for report in REPORTS]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    FROM_WORKERS.extend(getattr(node, "workeroutput", {}).get("fault_summaries", []))


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    lines = [report.summary() for report in REPORTS] + FROM_WORKERS
    if not lines:
        return
    terminalreporter.section("fault suite: streamed, injected, lost, duplicated")
    for line in lines:
        terminalreporter.write_line(line)

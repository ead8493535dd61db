"""The fault suite's session summary: each fault's figures (also in .run/faults/<test>.json)."""

from __future__ import annotations

from _pytest.terminal import TerminalReporter

from tests.faults.checker import REPORTS


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    if not REPORTS:
        return
    terminalreporter.section("fault suite: streamed, injected, lost, duplicated")
    for report in REPORTS:
        terminalreporter.write_line(report.summary())

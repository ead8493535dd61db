"""The snippets in docs/reader-protocols.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "reader-protocols.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_the_page_has_snippets() -> None:
    assert len(SNIPPETS) >= 5


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"snippet-{index}" for index in range(len(SNIPPETS))])
def test_snippet_runs(snippet: str) -> None:
    exec(compile(snippet, str(DOC), "exec"), {})

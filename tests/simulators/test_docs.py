"""The Python snippets in docs/simulators.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "simulators.md"


def test_doc_snippets_run() -> None:
    snippets = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert snippets
    for snippet in snippets:
        exec(compile(snippet, str(DOC), "exec"), {})

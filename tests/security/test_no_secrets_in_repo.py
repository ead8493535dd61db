"""No secret is committed: no private key anywhere, no password-like literal in configuration or service code.

Test fixtures may hold made-up passwords (they log in to servers the tests start themselves); everything a
deployment reads is generated per machine under .run/ (see docs/deploy-security.md), which git ignores.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
SECRET_ASSIGNMENT = re.compile(
    r"""(password|passwd|secret|token|api_key)\w*["']?\s*[=:]\s*["']([^"'\s]{4,})["']""", re.IGNORECASE
)
NOT_SECRETS = re.compile(r"^(SC_[A-Z_]+|\{.*\}|<.*>|\.\.\.|x+)$")
"""Names of environment variables, placeholders: what a literal may be without being a secret."""
CONFIG_SUFFIXES = {".toml", ".conf", ".ini", ".cfg", ".json", ".yaml", ".yml", ".env"}


def tracked_files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [REPO / name for name in listed.decode().split("\0") if name and (REPO / name).is_file()]


def test_no_private_key_is_tracked() -> None:
    found = [str(p.relative_to(REPO)) for p in tracked_files() if PRIVATE_KEY.search(p.read_bytes().decode("latin-1"))]
    assert found == []


def test_no_password_like_literal_in_configuration_or_service_code() -> None:
    found = []
    for path in tracked_files():
        relative = path.relative_to(REPO)
        if path.suffix not in CONFIG_SUFFIXES and not (path.suffix == ".py" and relative.parts[0] != "tests"):
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for match in SECRET_ASSIGNMENT.finditer(line):
                if not NOT_SECRETS.match(match.group(2)):
                    found.append(f"{relative}:{number}: {line.strip()}")
    assert found == []


def test_generated_secrets_are_ignored_by_git() -> None:
    ignored = subprocess.run(["git", "check-ignore", ".run/broker/credentials.json"], cwd=REPO, capture_output=True)
    assert ignored.returncode == 0, ".run/ must be in .gitignore"

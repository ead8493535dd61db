"""The broker configuration, as committed and as rendered for a run: no anonymous access, an ACL with rules,
persistence on, and no plain-text listener reachable from another machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from silentcommerce.broker import TEMPLATE, TlsListener, generate_credentials, render_config
from tests.fixtures.servers import require_executable

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
TLS_OPTIONS = {"certfile", "keyfile"}


def directives(text: str) -> list[tuple[str, list[str]]]:
    return [(line.split()[0], line.split()[1:]) for line in text.splitlines() if line.strip() and not line.startswith("#")]


def listeners(text: str) -> list[tuple[list[str], set[str]]]:
    """Each listener's arguments and the options that follow it (with per_listener_settings false, the TLS
    options belong to the listener above them)."""
    found: list[tuple[list[str], set[str]]] = []
    for name, args in directives(text):
        if name == "listener":
            found.append((args, set()))
        elif found:
            found[-1][1].add(name)
    return found


def check(text: str) -> None:
    settings = dict(directives(text))
    assert settings["allow_anonymous"] == ["false"]
    assert settings["per_listener_settings"] == ["false"]  # one password file and ACL for every listener
    assert settings["persistence"] == ["true"]
    assert settings["password_file"] and settings["acl_file"]
    assert listeners(text), "no listener"
    for args, options in listeners(text):
        plain = not options.issuperset(TLS_OPTIONS)
        assert not plain or (len(args) == 2 and args[1] in LOOPBACK), f"plain-text listener {args} off loopback"


def test_the_committed_configuration() -> None:
    check(TEMPLATE.read_text())


@pytest.fixture
def rendered(tmp_path: Path) -> Path:
    require_executable("mosquitto_passwd", "/usr/bin/mosquitto_passwd", package="mosquitto")
    generate_credentials(tmp_path, [("s1", "gw1")])
    tls = TlsListener(8883, tmp_path / "ca.crt", tmp_path / "server.crt", tmp_path / "server.key")
    return render_config(tmp_path, 18830, tls=tls)


def test_the_rendered_configuration_and_its_acl(rendered: Path) -> None:
    text = rendered.read_text()
    check(text)
    assert [args for args, _ in listeners(text)] == [["18830", "127.0.0.1"], ["8883"]]  # TLS on every interface
    acl = Path(dict(directives(text))["acl_file"][0]).read_text()
    users = [args[0] for name, args in directives(acl) if name == "user"]
    assert {"ingest", "dashboard", "gw.s1.gw1"} <= set(users)
    rules = [args for name, args in directives(acl) if name == "topic"]
    assert rules and all(args[0] in ("read", "write", "readwrite") for args in rules)  # no catch-all "topic #"
    gateway = acl.split("user gw.s1.gw1")[1]
    assert "topic read sc/v1/s1/gw1/cmd" in gateway and "#" not in gateway and "+" not in gateway


def test_a_plain_listener_on_every_interface_would_be_caught(rendered: Path) -> None:
    """The check above can fail: the same configuration with the plain listener opened up is refused."""
    opened = rendered.read_text().replace("listener 18830 127.0.0.1", "listener 18830 0.0.0.0")
    with pytest.raises(AssertionError, match="off loopback"):
        check(opened)

"""The simulators' exception family: every message names the device, file or step that was wrong."""

from __future__ import annotations


class SimulatorError(Exception):
    """Something in the simulators went wrong; the message says what and with which input."""


class StorePlanError(SimulatorError, ValueError):
    """A store file the simulators cannot build a store from (missing zone, bad tag, unknown SKU)."""


class ScenarioError(SimulatorError, ValueError):
    """A scenario step that refers to a device, zone or tag the store does not have."""


class LinkError(SimulatorError, OSError):
    """A virtual serial link (PTY pair, null modem, TCP bridge) could not be created or failed."""

"""The gateway's exception family."""

from __future__ import annotations


class GatewayError(Exception):
    """Base of the gateway's errors."""


class GatewayConfigError(GatewayError):
    """A gateway config file that cannot be used; the message names the file, the field and what was expected."""


class OutboxError(GatewayError):
    """The durable outbox could not be opened or written."""


class DeviceError(GatewayError):
    """A serial or Modbus device did not do what was asked (port closed, no answer, exception response)."""


class AllowListError(OutboxError):
    """The persistent allow list could not be opened or written."""

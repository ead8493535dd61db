"""Actuator commands from ``cmd``: validated, executed on one thread, each answered on ``ack``.

``alarm`` switches a relay on for ``duration_s`` (default 3 s) and then off again (a second alarm extends
the time); ``open`` pulses a gate's relay the same way (the gate opens while it is on); ``lock``/``unlock``
switch a coil on/off; ``display`` shows up to two lines on a pole display; ``clear_display`` blanks it. Every command gets an :class:`~contract.Ack`: ``ok`` or ``ok=false`` with the
reason (unknown target, device error, invalid command payload).

``allow``, ``disallow`` and ``allow_replace`` (target ``allowlist``) change the persistent allow list of the
exit guard; the ack goes out once the change is on disk. ``resend`` (target ``outbox``) makes the outbox
entries ``from_seq`` … ``to_seq`` wait again so they are published once more; its ack fails, naming the
``seq`` no longer kept, when some are gone. :meth:`CommandExecutor.hold_alarm` is how the exit guard, which
switched a relay on itself, hands the switching off to this thread.

Acks go through the outbox (they share ``seq``), so an ack made while the uplink is down is not lost; the
outbox remembers which command ids were answered, so a command delivered again (ingest republishes a command
until the broker took it) is carried out once: the repeat is dropped and counted.
"""

from __future__ import annotations

import heapq
import json
import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from contract import Ack, Command, ContractError, decode, encode
from contract.payloads import ALLOWLIST_TARGET, seq_ranges
from gateway.allowlist import AllowList
from gateway.config import ActuatorConfig, DisplayConfig
from gateway.errors import AllowListError, DeviceError, OutboxError
from gateway.outbox import Outbox
from readers import display
from readers.errors import ReaderError
from silentcommerce.serialport import Port, PortError, open_port

log = logging.getLogger(__name__)

DEFAULT_ALARM_S = 3.0
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

CoilWriter = Callable[[ActuatorConfig, bool], None]


@dataclass(frozen=True, slots=True)
class _Hold:
    """The exit guard switched ``actuator`` on: switch it off after ``seconds``."""

    actuator: str
    seconds: float
    switched_on: float
    """When (monotonic) the caller switched it on."""


@dataclass
class CommandStats:
    received: int = 0
    ok: int = 0
    failed: int = 0
    unanswerable: int = 0
    repeats: int = 0
    """Commands dropped because their id was answered before."""
    resent: int = 0
    """Outbox entries made to wait again by ``resend``."""


class DisplayPort:
    """One pole display on a serial port, opened when first needed and reopened after a failure."""

    def __init__(self, config: DisplayConfig) -> None:
        self.config = config
        self._port: Port | None = None

    def show(self, lines: list[str]) -> None:
        self.write(display.show(lines, self.config.width))

    def clear(self) -> None:
        self.write(display.clear())

    def write(self, data: bytes) -> None:
        for attempt in (1, 2):
            try:
                if self._port is None:
                    self._port = open_port(self.config.url, self.config.baudrate)
                self._port.write(data)
                self._port.flush()
                return
            except (PortError, OSError, ValueError) as exc:
                self.close()
                if attempt == 2:
                    raise DeviceError(f"display {self.config.name!r} on {self.config.url!r}: {exc}") from exc

    def close(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            except Exception:  # closing a dead port must not fail the command
                log.debug("display %s: close failed", self.config.name, exc_info=True)
        self._port = None


class CommandExecutor:
    """Runs commands one at a time on its own thread, and switches expired alarms off."""

    def __init__(
        self,
        store: str,
        gateway: str,
        actuators: list[ActuatorConfig],
        displays: list[DisplayConfig],
        write_coil: CoilWriter,
        outbox: Outbox,
        appended: Callable[[], None],
        stop: threading.Event,
        *,
        allowlist: AllowList | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store, self.gateway = store, gateway
        self.allowlist = allowlist
        self.stats = CommandStats()
        self._actuators = {a.name: a for a in actuators}
        self._displays = {d.name: DisplayPort(d) for d in displays}
        self._write_coil = write_coil
        self._outbox = outbox
        self._appended = appended
        self._stop = stop
        self._clock = clock
        self._inbox: queue.Queue[bytes | _Hold | None] = queue.Queue()
        self._alarm_until: dict[str, float] = {}
        self._switched_off: dict[str, float] = {}
        self._timers: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._run, name="commands", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._inbox.put(None)
        self._thread.join(timeout)
        for port in self._displays.values():
            port.close()

    def submit(self, payload: bytes) -> None:
        """Queue one ``cmd`` payload (called from the MQTT thread; returns at once)."""
        self._inbox.put(payload)

    def hold_alarm(self, actuator: str, seconds: float) -> None:
        """The relay ``actuator`` was switched on by the caller; switch it off after ``seconds`` (thread-safe)."""
        self._inbox.put(_Hold(actuator, seconds, time.monotonic()))

    # -- the command thread -----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            timeout = max(self._timers[0][0] - time.monotonic(), 0.0) if self._timers else 0.5
            try:
                payload = self._inbox.get(timeout=timeout)
            except queue.Empty:
                payload = None
            if isinstance(payload, _Hold):
                self._hold(payload)
            elif payload is not None:
                self._handle(payload)
            self._expire_alarms()
        for name in list(self._alarm_until):  # a stopping gateway leaves no siren on
            self._alarm_off(name)

    def _expire_alarms(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, name = heapq.heappop(self._timers)
            until = self._alarm_until.get(name)
            if until is not None and until <= now:
                self._alarm_off(name)

    def _alarm_off(self, name: str) -> None:
        self._alarm_until.pop(name, None)
        self._switched_off[name] = time.monotonic()
        try:
            self._write_coil(self._actuators[name], False)
        except DeviceError as exc:
            log.error("alarm %s could not be switched off: %s", name, exc)

    def _hold(self, hold: _Hold) -> None:
        actuator = self._actuators.get(hold.actuator)
        if actuator is None:
            return
        if self._switched_off.get(hold.actuator, -1.0) >= hold.switched_on:
            # an expiring alarm switched it off after the caller switched it on: on again
            try:
                self._write_coil(actuator, True)
            except DeviceError as exc:
                log.error("alarm %s could not be kept on: %s", hold.actuator, exc)
        until = max(time.monotonic() + hold.seconds, self._alarm_until.get(hold.actuator, 0.0))
        self._alarm_until[hold.actuator] = until
        heapq.heappush(self._timers, (until, hold.actuator))

    def _handle(self, payload: bytes) -> None:
        self.stats.received += 1
        try:
            command = decode(Command, payload)
        except ContractError as exc:
            self._refuse_invalid(payload, exc.reason)
            return
        if self._outbox.answered(command.id):
            self.stats.repeats += 1
            log.info("command %s was answered before: dropped", command.id)
            return
        if command.store != self.store or command.gateway != self.gateway:
            self._ack(
                command.id,
                f"command for {command.store}/{command.gateway} reached {self.store}/{self.gateway}",
            )
            return
        try:
            self._execute(command)
        except DeviceError as exc:
            self._ack(command.id, f"device error: {exc}")
            return
        except _Refused as exc:
            self._ack(command.id, str(exc))
            return
        self._ack(command.id, None)

    def _execute(self, command: Command) -> None:
        action, target = command.action, command.target
        if action == "resend":
            self._resend(command)
            return
        if action in ("allow", "disallow", "allow_replace"):
            self._allowlist(command)
            return
        if action in ("display", "clear_display"):
            port = self._displays.get(target)
            if port is None:
                raise _Refused(f"unknown target {target!r}: no display of that name on this gateway")
            if action == "clear_display":
                port.clear()
                return
            try:
                port.show(list(command.text))
            except ReaderError as exc:
                raise _Refused(f"invalid command payload: {exc}") from None
            return
        actuator = self._actuators.get(target)
        if actuator is None:
            raise _Refused(f"unknown target {target!r}: no actuator of that name on this gateway")
        if action in ("alarm", "open"):
            self._write_coil(actuator, True)
            until = time.monotonic() + (command.duration_s or DEFAULT_ALARM_S)
            self._alarm_until[target] = until
            heapq.heappush(self._timers, (until, target))
        else:
            self._write_coil(actuator, action == "lock")

    def _allowlist(self, command: Command) -> None:
        if self.allowlist is None or target_is_not_allowlist(command.target):
            raise _Refused(f"unknown target {command.target!r}: this gateway keeps no allow list")
        try:
            if command.action == "allow":
                self.allowlist.allow(command.tags)
            elif command.action == "disallow":
                self.allowlist.disallow(command.tags)
            else:
                part, parts = command.part or 1, command.parts or 1
                if self.allowlist.replace_part(command.snapshot_id, part, parts, command.tags):
                    log.info("allow list replaced: %d tags (snapshot %s)", len(self.allowlist), command.snapshot_id)
        except AllowListError as exc:
            raise DeviceError(str(exc)) from exc

    def _resend(self, command: Command) -> None:
        assert command.from_seq is not None and command.to_seq is not None  # the contract checks it
        try:
            lost = self._outbox.resend(command.from_seq, command.to_seq)
        except OutboxError as exc:
            raise DeviceError(str(exc)) from exc
        self.stats.resent += command.to_seq - command.from_seq + 1 - len(lost)
        self._appended()
        if lost:
            raise _Refused(f"not kept: {seq_ranges(lost)}")

    def _refuse_invalid(self, payload: bytes, reason: str) -> None:
        command_id = None
        try:
            raw = json.loads(payload)
            if isinstance(raw, dict) and isinstance(raw.get("id"), str) and _ID.match(raw["id"]):
                command_id = raw["id"]
        except (ValueError, RecursionError):  # RecursionError: nesting the contract's parser refused by depth
            pass
        if command_id is None:
            self.stats.unanswerable += 1
            log.warning("command without a usable id refused: %s", reason)
            return
        self._ack(command_id, f"invalid command payload: {reason}")

    def _ack(self, command_id: str, error: str | None) -> None:
        if error is None:
            self.stats.ok += 1
        else:
            self.stats.failed += 1
            log.warning("command %s failed: %s", command_id, error)
        ack = Ack(
            id=command_id,
            store=self.store,
            gateway=self.gateway,
            ok=error is None,
            error=(error or "")[:200],
            at=self._clock(),
        )
        try:
            self._outbox.append("ack", lambda seq: encode(ack.model_copy(update={"seq": seq})), answers=command_id)
        except OutboxError as exc:
            log.error("ack of command %s could not be stored: %s", command_id, exc)
            return
        self._appended()



def target_is_not_allowlist(target: str) -> bool:
    return target != ALLOWLIST_TARGET


class _Refused(Exception):
    """A command that cannot be carried out; the message is the ack's reason."""

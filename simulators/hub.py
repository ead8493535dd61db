"""The one I/O thread behind all virtual devices: PTY masters, null-modem pumps and TCP bridges.

One selector loop serves every device of a store, so a store of a dozen readers costs one thread. Devices
are state machines (:mod:`simulators.devices`); the hub reads what gateways write, hands it to the device,
writes the answers back, and ticks each device when its next spontaneous output is due.

Output nobody reads is lost after ``stale_after`` seconds, like bytes on a wire with no one listening, so
a gateway that opens a port late does not get a backlog of old tag reads.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import socket
import termios
import threading
import time
import tty
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from simulators.devices import SerialDevice
from simulators.errors import LinkError
from simulators.links import NullModem, PtyPair

Clock = Callable[[], float]

_IDLE_WAIT = 0.5
_READ_SIZE = 65536


@dataclass
class _Stream:
    """One readable/writable end (a PTY master, a slave opened for a bridge, or a TCP client)."""

    fd: int
    name: str
    on_data: Callable[[bytes], None]
    sock: socket.socket | None = None
    pending: deque[tuple[float, bytes]] = field(default_factory=deque)
    partial: bool = False  # the head of ``pending`` was partly written: never drop it
    dropped_bytes: int = 0

    def read(self) -> bytes | None:
        """Bytes waiting (b"" if none); None when the peer is gone (socket EOF)."""
        try:
            if self.sock is not None:
                data = self.sock.recv(_READ_SIZE)
                return data if data else None
            return os.read(self.fd, _READ_SIZE)
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno == errno.EIO:  # PTY without an open slave: nothing to read
                return b""
            if self.sock is not None:
                return None
            raise

    def write_now(self, data: bytes) -> int:
        try:
            if self.sock is not None:
                return self.sock.send(data)
            return os.write(self.fd, data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            if exc.errno in (errno.EIO, errno.EAGAIN):
                return 0
            if self.sock is not None:
                return 0
            raise

    def flush(self, now: float, stale_after: float) -> None:
        while self.pending:
            stamp, chunk = self.pending[0]
            if not self.partial and now - stamp > stale_after:
                self.pending.popleft()
                self.dropped_bytes += len(chunk)
                continue
            written = self.write_now(chunk)
            if written == len(chunk):
                self.pending.popleft()
                self.partial = False
                continue
            if written:
                self.pending[0] = (stamp, chunk[written:])
                self.partial = True
            return


@dataclass
class DeviceLink:
    """Where a device attached to the hub can be reached."""

    device: SerialDevice
    pty: PtyPair

    @property
    def path(self) -> str:
        return self.pty.path


class DeviceHub:
    """Runs devices on raw PTYs in one background thread. Use as a context manager or start()/stop()."""

    def __init__(self, *, clock: Clock = time.monotonic, stale_after: float = 0.5) -> None:
        self._clock = clock
        self._stale_after = stale_after
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._calls: deque[Callable[[], None]] = deque()
        self._calls_lock = threading.Lock()
        self._devices: list[tuple[SerialDevice, _Stream]] = []
        self._streams: dict[int, _Stream] = {}
        self._closables: list[Callable[[], None]] = []
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.error: BaseException | None = None

    # -- building ---------------------------------------------------------------------------------------

    def attach(self, device: SerialDevice) -> DeviceLink:
        """Give ``device`` a raw PTY; the gateway opens the returned link's ``path``."""
        pty = PtyPair.open()
        self._closables.append(pty.close)

        def on_data(data: bytes) -> None:
            answer = device.receive(data, self._clock())
            if answer:
                self._send(stream, answer)

        stream = _Stream(pty.master, device.name, on_data)
        device.wake = self.wake

        def register() -> None:
            self._add_stream(stream)
            self._devices.append((device, stream))

        self._call(register)
        return DeviceLink(device, pty)

    def add_null_modem(self) -> NullModem:
        """Two crossed raw PTYs: bytes written at ``device_path`` come out at ``host_path`` and back."""
        modem = NullModem.open()
        self._closables.append(modem.close)
        device_end = _Stream(modem.device_side.master, f"{modem.device_path} (device)", lambda d: None)
        host_end = _Stream(modem.host_side.master, f"{modem.host_path} (host)", lambda d: None)
        device_end.on_data = lambda data: self._send(host_end, data)
        host_end.on_data = lambda data: self._send(device_end, data)

        def register() -> None:
            self._add_stream(device_end)
            self._add_stream(host_end)

        self._call(register)
        return modem

    def expose_tcp(self, path: str, port: int = 0, host: str = "127.0.0.1") -> int:
        """Serve the serial port at ``path`` on ``socket://host:port`` (one client at a time; a new client
        replaces the old). Returns the bound port. While a client is connected, the bridge owns the port."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((host, port))
        except OSError as exc:
            listener.close()
            raise LinkError(f"cannot serve {path} on {host}:{port}: {exc}") from exc
        listener.listen(4)
        listener.setblocking(False)
        self._closables.append(listener.close)
        bridge = _Bridge(self, path)
        self._closables.append(bridge.disconnect)

        def register() -> None:
            self._selector.register(listener, selectors.EVENT_READ, bridge.accept_from(listener))

        self._call(register)
        bound: int = listener.getsockname()[1]
        return bound

    # -- running ----------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="sim-hub", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for close in reversed(self._closables):
            with contextlib.suppress(OSError):
                close()
        self._closables.clear()
        with contextlib.suppress(OSError):
            self._selector.close()
            os.close(self._wake_r)
            os.close(self._wake_w)

    def __enter__(self) -> DeviceHub:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wake(self) -> None:
        """Make the loop look at deadlines and queued calls now (safe from any thread)."""
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"\0")

    @property
    def dropped_bytes(self) -> dict[str, int]:
        """Output lost because nobody read it in time, per stream name."""
        return {s.name: s.dropped_bytes for s in self._streams.values() if s.dropped_bytes}

    # -- inside the loop ----------------------------------------------------------------------------------

    def _call(self, fn: Callable[[], None]) -> None:
        if self._thread is None:
            fn()
            return
        with self._calls_lock:
            self._calls.append(fn)
        self.wake()

    def _add_stream(self, stream: _Stream) -> None:
        self._streams[stream.fd] = stream
        self._selector.register(
            stream.fd if stream.sock is None else stream.sock, selectors.EVENT_READ, stream
        )

    def _remove_stream(self, stream: _Stream) -> None:
        if self._streams.pop(stream.fd, None) is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(stream.fd if stream.sock is None else stream.sock)

    def _send(self, stream: _Stream, data: bytes) -> None:
        stream.pending.append((self._clock(), data))
        stream.flush(self._clock(), self._stale_after)
        self._watch_writes(stream)

    def _watch_writes(self, stream: _Stream) -> None:
        if stream.fd not in self._streams:
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if stream.pending else 0)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.modify(stream.fd if stream.sock is None else stream.sock, events, stream)

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                self._run_calls()
                timeout = self._tick_devices()
                for key, mask in self._selector.select(timeout):
                    stream = key.data
                    if stream is None:
                        with contextlib.suppress(OSError):
                            os.read(self._wake_r, 4096)
                    elif callable(stream) and not isinstance(stream, _Stream):
                        stream()
                    else:
                        self._service(stream, mask)
        except BaseException as exc:  # keep the reason for stop() callers and tests
            self.error = exc
            raise

    def _run_calls(self) -> None:
        while True:
            with self._calls_lock:
                if not self._calls:
                    return
                fn = self._calls.popleft()
            fn()

    def _tick_devices(self) -> float:
        now = self._clock()
        timeout = _IDLE_WAIT
        for device, stream in self._devices:
            due = device.next_due()
            if due is not None and due <= now:
                out = device.tick(now)
                if out:
                    self._send(stream, out)
                due = device.next_due()
            if due is not None:
                timeout = min(timeout, max(0.0, due - now))
        return timeout

    def _service(self, stream: _Stream, mask: int) -> None:
        if mask & selectors.EVENT_READ:
            data = stream.read()
            if data is None:
                self._remove_stream(stream)
                stream.on_data(b"")  # tells a bridge its client is gone
                return
            if data:
                stream.on_data(data)
        if mask & selectors.EVENT_WRITE:
            stream.flush(self._clock(), self._stale_after)
            self._watch_writes(stream)


class _Bridge:
    """Pumps between one TCP client and the serial port at ``path`` (opened only while a client is on)."""

    def __init__(self, hub: DeviceHub, path: str) -> None:
        self.hub = hub
        self.path = path
        self.client: _Stream | None = None
        self.port: _Stream | None = None

    def accept_from(self, listener: socket.socket) -> Callable[[], None]:
        def accept() -> None:
            try:
                sock, _ = listener.accept()
            except BlockingIOError:
                return
            self.disconnect()
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            tty.setraw(fd, termios.TCSANOW)
            termios.tcflush(fd, termios.TCIOFLUSH)  # nothing stale for the new client
            client = _Stream(sock.fileno(), f"tcp client of {self.path}", lambda d: None, sock=sock)
            port = _Stream(fd, f"bridge to {self.path}", lambda d: None)
            client.on_data = lambda data: self.hub._send(port, data) if data else self.disconnect()
            port.on_data = lambda data: self.hub._send(client, data)
            self.client, self.port = client, port
            self.hub._add_stream(client)
            self.hub._add_stream(port)

        return accept

    def disconnect(self) -> None:
        client, port = self.client, self.port
        self.client = self.port = None
        if client is not None and client.sock is not None:
            self.hub._remove_stream(client)
            with contextlib.suppress(OSError):
                client.sock.close()
        if port is not None:
            self.hub._remove_stream(port)
            with contextlib.suppress(OSError):
                os.close(port.fd)

"""Failed sign-ins, counted per client address and per login name, to slow down password guessing.

A key (an address or a login) with ``limit`` failures inside the last ``window_s`` seconds is refused
until its oldest failure leaves the window; the caller answers 429 with that wait as ``Retry-After``.
A successful sign-in forgets its login's failures (not its address's: one address may guess many logins).
Pure bookkeeping: the caller passes the time.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

MAX_KEYS = 10_000
"""Keys remembered at most; past this the oldest half is forgotten, so a flood cannot exhaust memory."""


@dataclass
class LoginThrottle:
    per_address: int
    per_login: int
    window_s: float
    failed: int = 0
    """Failed sign-ins since start (shown by /api/health)."""
    refused: int = 0
    """Sign-ins refused with 429 since start."""
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, address: str, login: str, now: float) -> int:
        """Seconds to wait before this address or login may try again; 0 if it may try now."""
        wait = max(
            self._wait(f"addr:{address}", self.per_address, now),
            self._wait(f"login:{login}", self.per_login, now),
        )
        if wait > 0:
            self.refused += 1
        return wait

    def record_failure(self, address: str, login: str, now: float) -> None:
        self.failed += 1
        if len(self._failures) >= MAX_KEYS:
            for key in list(self._failures)[: MAX_KEYS // 2]:
                del self._failures[key]
        for key in (f"addr:{address}", f"login:{login}"):
            self._failures.setdefault(key, deque()).append(now)

    def record_success(self, login: str) -> None:
        self._failures.pop(f"login:{login}", None)

    def _wait(self, key: str, limit: int, now: float) -> int:
        times = self._failures.get(key)
        if times is None:
            return 0
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
            return 0
        if len(times) < limit:
            return 0
        return max(1, math.ceil(times[0] + self.window_s - now))

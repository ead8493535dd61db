"""``silentcommerce gateway --config gw.toml``: run one gateway until SIGINT or SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from gateway.config import load_config
from gateway.service import Gateway

log = logging.getLogger(__name__)


def run(config_path: Path) -> None:
    """Load the config, start the gateway and block until SIGINT/SIGTERM; then stop it cleanly.

    Raises :class:`gateway.errors.GatewayConfigError` for a config that cannot be used.
    """
    config = load_config(config_path)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d received: stopping", signum)
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    gateway = Gateway(config)
    try:
        gateway.start()
        while not stop.wait(1.0):
            pass
    finally:
        gateway.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)

"""Virtual serial devices that speak the real reader protocols, and store scenarios that drive them.

``devices`` (UHF module, card readers, pole display — pure state machines), ``modbus_device`` (the I/O
board on a Modbus RTU bus, served by pymodbus), ``links`` and ``hub`` (raw PTYs, null modems, TCP
bridges, one I/O thread), ``storeplan`` (which devices a store file needs), ``scenario`` and ``demo``
(timed steps and what they should lead to), ``world`` (applies steps to devices), ``main`` (start a whole
store, write a gateway config, the ``sim`` command).
"""

from __future__ import annotations

"""The edge process: serial readers and Modbus devices in, smoothed and batched MQTT out, commands back.

Run it with ``silentcommerce gateway --config gw.toml`` (see :func:`gateway.main.run`) or, in tests, build
a :class:`gateway.service.Gateway` from a config and call ``start()`` / ``stop()``.
"""

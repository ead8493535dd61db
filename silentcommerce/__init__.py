"""Silent Commerce: the command line, the demo store and the shared service seams (MQTT, broker)."""

__version__ = "0.1.0"

"""tierstack's engine: use case → capabilities → tier → resolved blueprint → stacks."""

__version__ = "0.1.0"

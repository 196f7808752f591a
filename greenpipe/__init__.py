"""greenpipe: the shared core (config, domain model, stores, wire contract, CLI)."""

__version__ = "0.1.0"

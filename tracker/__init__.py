"""File tracker: JSON nodes keyed by path, damas-core compatible API, per-site sync state."""

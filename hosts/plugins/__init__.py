"""Import and export plugins of the host inventory.

Each plugin talks to the inventory through `syncerapi.v1` only, like a third-party plugin would; the bulk
import path (`hosts.services.import_rows`) is the one hosts-internal service they share.
"""

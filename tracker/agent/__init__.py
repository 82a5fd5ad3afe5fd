"""The site agent: moves files between volumes with rsync and keeps the tracker's sync keys in step.

Modules: `volumes` (volume URLs), `paths` (a tracker path can never leave the volume root), `rsync` (one rsync
per batch, verified), `scanner` (discovery), `runner` (reception, emission, discovery, heartbeat through
`tracker.services` only), `trash` (deletions moved aside, restore, purge), `capacity` (the volume's size).
"""

AGENT_VERSION = "1.0.0"

"""Plugins of syncthing_bridge written against syncerapi.v1 only."""

"""Syncsite: hosts, files and data kept in sync across machines and sites."""

__version__ = "0.1.0"

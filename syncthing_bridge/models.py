"""Models of this app; written only through services.py."""

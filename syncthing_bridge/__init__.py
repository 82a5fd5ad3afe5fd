"""Watches Syncthing daemons through their REST API and feeds the tracker."""

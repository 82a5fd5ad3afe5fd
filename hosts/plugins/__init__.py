"""Import and export plugins of the host inventory.

A layer above the facade: each plugin talks to the inventory through `syncerapi.v1` (the bulk import
through `syncerapi.v1.importing`) or the hosts door `hosts.services`, like a third-party plugin would. The
hosts core never imports them: HostsConfig declares them (`syncer_plugins`) and the plugin loader
(hosts.discovery) imports them at startup.
"""

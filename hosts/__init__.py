"""Host inventory: hosts, accounts, rules, run logs and the syncerapi.v1 plugin API."""

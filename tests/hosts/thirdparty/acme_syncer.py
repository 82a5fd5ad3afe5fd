"""A plugin as a third party writes it: only syncerapi.v1 and the standard library.

It pulls hosts from an HTTP feed (the account's address), imports them, stores their serial
numbers as inventory, and exports a site report from the rule-processed attributes.
"""

from __future__ import annotations

from syncerapi.v1 import Host, get_account, register_cronjob
from syncerapi.v1.core import Plugin, logger
from syncerapi.v1.inventory import run_inventory


class AcmeImport(Plugin):
    name = "ACME feed import"
    source = "acme_import"

    def run(self) -> int:
        response = self.inner_request(
            "GET", f"{self.config['address']}/hosts", auth=(self.config["username"], self.config["password"])
        )
        response.raise_for_status()
        imported = 0
        serials = []
        for row in response.json():
            host = Host.get_host(row.pop("name", ""))
            if not host:
                self.log_details.append(("error", "feed row without a valid name"))
                continue
            if not host.set_account(account_dict=self.config):
                continue
            serials.append((host.hostname, {"serial": row.pop("serial", "")}))
            host.update_host(row)
            host.save()
            imported += 1
        run_inventory(self.config, serials)
        self.log_details.append(("imported", imported))
        logger.info("acme: %d hosts", imported)
        return imported


class AcmeReport(Plugin):
    name = "ACME site report"
    source = "acme_report"

    def run(self) -> dict[str, list[str]]:
        sites: dict[str, list[str]] = {}
        for host in Host.get_export_hosts():
            attributes = self.get_attributes(host, "acme_report")
            if attributes is False:
                continue
            site = attributes["all"].get("site", "unknown")
            sites.setdefault(site, []).append(attributes["all"]["HOSTNAME"])
        return sites


def nightly_import(account: str) -> int:
    if get_account(account) is None:
        raise ValueError(account)
    plugin = AcmeImport(account)
    try:
        return plugin.run()
    finally:
        plugin.save_log()


register_cronjob("ACME: nightly import", nightly_import)

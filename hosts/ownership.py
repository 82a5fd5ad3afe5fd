"""Who may take over a host: the one ownership rule that the plugin API, bulk import and REST API share.

A refused take-over is raised as hosts.errors.OwnershipError with the message of refusal().

A locked host keeps its account; a host owned by a master account goes only to another master account;
any other host goes to whichever account claims it, and the change is written to the host's own log.
"""

from __future__ import annotations


def may_take_over(*, locked: bool, owner_is_master: bool, claimant_is_master: bool) -> bool:
    """Whether a claimant account may take a host owned by another account (or by none: owner_is_master False)."""
    if locked:
        return False
    return claimant_is_master or not owner_is_master


def refusal(hostname: str, *, locked: bool, owner_name: str | None, claimant_name: str) -> str:
    """The message of a refused take-over, naming the host, its owner and the refused account."""
    state = "locked to" if locked else "owned by master"
    return f"host {hostname!r} is {state} account {owner_name or 'none'!r}; account {claimant_name!r} may not change it"


def take_over_log(previous_owner: str, new_owner: str) -> str:
    """The entry a host's own log gets when it changes hands."""
    return f"account changed from {previous_owner} to {new_owner}"

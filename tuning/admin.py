"""Who may change what: the one admin check every service uses."""

from __future__ import annotations

from tuning.errors import NotAdmin


def require_admin(user: str, admins: frozenset[str], action: str) -> None:
    if user not in admins:
        raise NotAdmin(action, admins)

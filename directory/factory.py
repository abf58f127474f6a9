"""Open the configured directory (the embedded local one, or the campus LDAP) and its writer.

This is the one module that imports the backends. The rest of the package depends downwards
only (backends on writes, config and base; never the reverse), so there are no import cycles,
and the caller (idp/app.py, the CLI) passes plain values: which kind, and the LDAP config.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from directory.base import Directory, DirectoryObserver, DirectoryUnavailable, no_observer
from directory.config import IdentityLinkConfig, LdapConfig
from directory.writes import DirectoryWriter

DirectoryKind = Literal["local", "ldap"]


def open_directory(kind: DirectoryKind, ldap: LdapConfig, engine: AsyncEngine,
                   observer: DirectoryObserver = no_observer,
                   links: IdentityLinkConfig | None = None) -> Directory:
    """The campus LDAP described by `ldap` for kind "ldap" (each of its operations reported to
    `observer`), or the local directory in `engine`'s database for kind "local"; either links
    entries into one person as `links` says.

    The local directory's tables must exist (`LocalDirectory.create_all` or the migrations).
    """
    if kind == "ldap":
        from directory.ldap import LdapDirectory

        return LdapDirectory(ldap, observer, links)
    if kind == "local":
        from directory.local import LocalDirectory

        return LocalDirectory(engine, links=links)
    raise ValueError(f"unknown directory kind {kind!r} (expected 'local' or 'ldap')")


def open_writer(directory: Directory) -> DirectoryWriter:
    """The writer for an opened directory: the local directory writes itself; LDAP writes
    through the admin bind (IDP_LDAP_ADMIN_BIND_DN), sharing the directory's thread pool."""
    from directory.local import LocalDirectory

    if isinstance(directory, LocalDirectory):
        return directory  # type: ignore[return-value]
    from directory.ldap import LdapDirectory

    if isinstance(directory, LdapDirectory):
        from directory.ldap_admin import LdapAdminWriter

        return LdapAdminWriter(directory)
    raise DirectoryUnavailable(f"the {directory.name!r} directory cannot be written to")

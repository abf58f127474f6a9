"""Open the configured directory: the embedded local one, or the campus LDAP."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from directory.base import Directory, DirectoryObserver, no_observer
from idp.settings import Settings


def open_directory(settings: Settings, engine: AsyncEngine,
                   observer: DirectoryObserver = no_observer) -> Directory:
    """LdapDirectory when IDP_DIRECTORY=ldap, otherwise the local directory in `engine`'s DB.

    The local directory's tables must exist (`LocalDirectory.create_all` or the migrations).
    """
    if settings.directory == "ldap":
        from directory.ldap import LdapDirectory

        return LdapDirectory(settings.ldap, observer)
    from directory.local import LocalDirectory

    return LocalDirectory(engine)

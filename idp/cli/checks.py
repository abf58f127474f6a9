"""`idp check`: reach every backend the settings name and say what answered."""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.engine import make_url

from idp.settings import Settings


def _safe_url(url: str) -> str:
    return make_url(url.replace("postgres://", "postgresql://", 1)).render_as_string(hide_password=True)


def _safe_redis_url(url: str) -> str:
    """The Redis URL without its passwords (userinfo, and a Sentinel URL's sentinel_password)."""
    url = re.sub(r"(://[^/?#@]*?:)[^/?#]*@", r"\1***@", url, count=1)
    return re.sub(r"(sentinel_password=)[^&#]*", r"\1***", url)


def warnings(settings: Settings) -> list[tuple[str, str]]:
    """Settings that work today yet fail a person later: (name, what to change)."""
    found: list[tuple[str, str]] = []
    ldap = settings.ldap
    if settings.directory == "ldap" and ldap.profile == "activedirectory" and not ldap.start_tls:
        # AD takes unicodePwd only over TLS: a password change (must change 773, expired 532)
        # that lands on a plain URI is refused, which the person sees as "directory unavailable"
        plain = [url for url in ldap.urls if url.startswith("ldap://")]
        if plain:
            found.append(("ldap tls", f"{' '.join(plain)} is plain LDAP: Active Directory refuses "
                          "password changes there; use ldaps:// or IDP_LDAP_START_TLS=true"))
    if settings.directory == "ldap" and ldap.profile == "activedirectory" and (
            "(uid={username})" in ldap.user_filter):
        # the openldap default left in place: AD accounts carry sAMAccountName, not uid
        found.append(("ldap filter", f"IDP_LDAP_USER_FILTER is {ldap.user_filter}: Active "
                      "Directory accounts rarely have uid; use "
                      "(&(objectClass=user)(sAMAccountName={username}))"))
    return found


async def run_checks(settings: Settings) -> list[tuple[str, bool, str]]:
    from directory.base import DirectoryError
    from directory.factory import open_directory
    from idp.db.engine import close_engine, open_engine
    from idp.db.migrate import current, head_revision
    from idp.store import open_store

    results: list[tuple[str, bool, str]] = [
        ("settings", True, f"issuer {settings.issuer}, directory {settings.directory}")
    ]
    engine = open_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        revision = await current(settings.database_url)
        database_ok = revision == head_revision()
        results.append(("database", database_ok, f"{_safe_url(settings.database_url)} " + (
            f"(schema {revision})" if database_ok else
            f"(schema {revision or 'empty'}, expected {head_revision()}: run `idp migrate`)")))
    except Exception as exc:  # noqa: BLE001 - every failure is reported, by name
        results.append(("database", False, f"{_safe_url(settings.database_url)}: {exc}"))
        database_ok = False

    store = open_store(settings)
    try:
        await store.ping()
        results.append(("store", True, _safe_redis_url(settings.redis_url or "")
                        or "embedded in-process store"))
    except Exception as exc:  # noqa: BLE001
        results.append(("store", False, f"{_safe_redis_url(settings.redis_url or '')}: {exc}"))
    finally:
        await store.close()

    if settings.directory == "local" and not database_ok:
        results.append(("directory", False, "local directory needs the database"))
    else:
        directory = open_directory(settings.directory, settings.ldap, engine,
                               links=settings.identities)
        try:
            results.append(("directory", True, await directory.check()))
        except DirectoryError as exc:
            # the reason on the failing line itself: "unavailable: server down (ldap://...)"
            results.append(("directory", False, f"{exc.kind}: {exc.detail or exc}"))
        except Exception as exc:  # noqa: BLE001 - a check reports, it never crashes
            results.append(("directory", False, f"{type(exc).__name__}: {exc}"))
        finally:
            await directory.close()
    await close_engine(engine)

    try:
        from idp.keys.ring import KeyRing

        ring = KeyRing.open(settings.keys_dir)
        current_keys = [r for r in ring.describe() if r["state"] == "current"]
        results.append(("keys", True, f"{settings.keys_dir}: "
                        + ", ".join(f"{r['alg']} {r['kid'][:12]}" for r in current_keys)))
    except Exception as exc:  # noqa: BLE001
        results.append(("keys", False, f"{settings.keys_dir}: {exc}"))
    return results

"""The embedded local directory: people and groups in SQL, so the demo runs with nothing else.

Passwords are argon2 hashes through passlib's CryptContext, which also verifies the hashes an
LDAP export carries ({SSHA}, {SSHA512}, {CRYPT}$6$…, …) and marks them deprecated, so the first
successful login rehashes them to argon2. Hashing is CPU-heavy and runs in a thread pool, never
on the event loop. Like the LDAP backend, an unknown user costs one hash verification, and the
account state (disabled, locked, expired, must change) is only revealed to the right password.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from passlib.context import CryptContext
from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from directory.base import (
    Account,
    AccountDisabled,
    AccountLocked,
    AlreadyExists,
    Facts,
    Group,
    InvalidCredentials,
    MustChangePassword,
    NoSuchEntry,
    PasswordExpired,
    PasswordRejected,
    Person,
    normalize_username,
    username_key,
)
from directory.config import IdentityLinkConfig
from directory.local_identities import attribute_rows, linked_rows, replace_attribute
from directory.local_schema import (
    DirAttribute,
    DirectoryBase,
    DirGroup,
    DirMembership,
    DirPerson,
    local_fact_field,
)
from directory.writes import AccountState

T = TypeVar("T")

# argon2 first: new hashes; the LDAP schemes only verify and are rehashed ("auto" deprecation).
# ldap_plaintext is deliberately absent: a stored cleartext password must not "verify".
PASSWORDS = CryptContext(
    schemes=[
        "argon2",
        "ldap_salted_sha1",
        "ldap_salted_sha256",
        "ldap_salted_sha512",
        "ldap_salted_md5",
        "ldap_sha1",
        "ldap_md5",
        "ldap_sha512_crypt",
        "ldap_sha256_crypt",
        "ldap_md5_crypt",
        "ldap_bcrypt",
        "ldap_pbkdf2_sha256",
        "ldap_pbkdf2_sha512",
    ],
    deprecated=["auto"],
    # argon2id with OWASP's Password Storage Cheat Sheet minimum (19 MiB, t=2, p=1): ~40 ms a
    # verification, so a September morning of logins does not need a server farm
    argon2__type="ID",
    argon2__memory_cost=19456,
    argon2__rounds=2,
    argon2__parallelism=1,
)

PERSON_FIELDS = frozenset(
    {
        "name",
        "given_name",
        "family_name",
        "email",
        "phone",
        "number",
        "department",
        "title",
        "affiliations",
        "principal_name",
        "entitlements",
    }
)
LIST_FIELDS = frozenset({"affiliations", "entitlements"})
FOREVER = datetime(9999, 1, 1, tzinfo=UTC)
MIN_PASSWORD_LENGTH = 8  # NIST SP 800-63B §5.1.1.2: at least 8 characters for a chosen password


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes even for timezone=True columns
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


class LocalDirectory:
    """A Directory kept in the IdP's own database (SQLite or PostgreSQL)."""

    name = "local"

    def __init__(self, engine: AsyncEngine, *, threads: int = 4,
                 links: IdentityLinkConfig | None = None) -> None:
        self.engine = engine
        self.links = links or IdentityLinkConfig()
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="passwords")
        self._dummy_hash: str | None = None

    async def create_all(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(DirectoryBase.metadata.create_all)

    async def _cpu(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self._cpu(PASSWORDS.hash, secrets.token_urlsafe(24))
        return self._dummy_hash

    # --- reading -------------------------------------------------------------------------------

    @staticmethod
    async def _row(session: AsyncSession, username: str) -> DirPerson | None:
        key = username_key(username)
        if not key or not key.isprintable():
            return None  # NUL and control characters are in no stored name (PostgreSQL refuses NUL)
        return await session.scalar(select(DirPerson).where(DirPerson.username_key == key))

    async def _required(self, session: AsyncSession, username: str) -> DirPerson:
        row = await self._row(session, username)
        if row is None:
            raise NoSuchEntry(f"no person {username!r}")
        return row

    @staticmethod
    async def _person(session: AsyncSession, row: DirPerson) -> Person:
        names = await session.scalars(
            select(DirGroup.name)
            .join(DirMembership, DirMembership.group_id == DirGroup.id)
            .where(DirMembership.person_id == row.id)
            .order_by(DirGroup.name)
        )
        return Person(
            subject=row.subject,
            username=row.username,
            name=row.name,
            given_name=row.given_name,
            family_name=row.family_name,
            email=row.email,
            phone=row.phone,
            number=row.number,
            department=row.department,
            title=row.title,
            affiliations=tuple(row.affiliations or ()),
            principal_name=row.principal_name,
            entitlements=tuple(row.entitlements or ()),
            groups=tuple(names),
            disabled=row.disabled,
        )

    async def authenticate(self, username: str, password: str) -> Person:
        if not password:
            raise InvalidCredentials(detail="empty password")
        async with self._sessions() as session:
            row = await self._row(session, username)
            if row is None or not row.password_hash:
                await self._cpu(PASSWORDS.verify, password, await self._dummy())
                raise InvalidCredentials(detail="no such user")
            try:
                ok, new_hash = await self._cpu(PASSWORDS.verify_and_update, password, row.password_hash)
            except (ValueError, TypeError) as exc:  # a stored hash no scheme recognises
                raise InvalidCredentials(detail=f"unusable password hash: {exc}") from exc
            if not ok:
                raise InvalidCredentials(detail="wrong password")
            if new_hash is not None:  # an LDAP-style or outdated hash: upgrade it now
                row.password_hash = new_hash
                await session.commit()
            # the state is only told to someone who knows the password
            if row.disabled:
                raise AccountDisabled()
            locked_until = _aware(row.locked_until)
            if locked_until is not None and locked_until > datetime.now(UTC):
                raise AccountLocked(detail=f"locked until {locked_until.isoformat()}")
            if row.password_expired:
                raise PasswordExpired()
            if row.must_change:
                raise MustChangePassword()
            return await self._person(session, row)

    async def find(self, username: str) -> Person | None:
        async with self._sessions() as session:
            row = await self._row(session, username)
            return await self._person(session, row) if row else None

    async def locate(self, username: str) -> Account | None:
        async with self._sessions() as session:
            row = await self._row(session, username)
            return Account(row.subject, row.username) if row else None

    async def facts(self, username: str, attributes: tuple[str, ...]) -> Facts | None:
        fields = {name: local_fact_field(name) for name in attributes}
        unknown = sorted(name for name, field in fields.items() if field is None)
        if unknown:
            raise ValueError(f"the local directory has no attribute {', '.join(unknown)}")
        async with self._sessions() as session:
            row = await self._row(session, username)
        if row is None:
            return None
        values = {name: (str(value),) if (value := getattr(row, str(field))) else ()
                  for name, field in fields.items()}
        return Facts(Account(row.subject, row.username), values)

    async def by_subject(self, subject: str) -> Person | None:
        if not subject or not subject.isprintable():
            return None
        async with self._sessions() as session:
            row = await session.scalar(select(DirPerson).where(DirPerson.subject == subject))
            return await self._person(session, row) if row else None

    async def identities(self, person: Person) -> tuple[Person, ...]:
        if not self.links.enabled:
            return (person,)
        async with self._sessions() as session:
            row = await session.scalar(select(DirPerson).where(DirPerson.subject == person.subject))
            if row is None:
                return (person,)
            others = [await self._person(session, other)
                      for other in (await linked_rows(session, row, self.links))[1:]
                      if not other.disabled]
        return (person, *others)

    async def groups(self) -> list[Group]:
        async with self._sessions() as session:
            rows = await session.scalars(select(DirGroup).order_by(DirGroup.name))
            return [Group(name=row.name, description=row.description) for row in rows]

    async def search(self, query: str = "", offset: int = 0, limit: int = 50) -> list[Person]:
        """People whose login name, name, e-mail or number contains `query` (case-insensitive)."""
        statement = select(DirPerson).order_by(DirPerson.username_key)
        query = query.replace("\x00", "")
        if query:
            pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            statement = statement.where(
                or_(
                    *(
                        func.lower(column).like(pattern.lower(), escape="\\")
                        for column in (
                            DirPerson.username,
                            DirPerson.name,
                            DirPerson.email,
                            DirPerson.number,
                        )
                    )
                )
            )
        statement = statement.offset(max(offset, 0)).limit(max(min(limit, 1000), 0))
        async with self._sessions() as session:
            rows = list(await session.scalars(statement))
            return [await self._person(session, row) for row in rows]

    async def check(self) -> str:
        async with self._sessions() as session:
            count = await session.scalar(select(func.count()).select_from(DirPerson))
        return f"local directory in {self.engine.url.render_as_string()} ({count} people)"

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    # --- the person's own password ---------------------------------------------------------------

    async def lockout_threshold(self, username: str) -> int | None:
        """Never: the local directory does not lock after failures (the IdP's throttle does)."""
        return None

    async def change_password(self, username: str, old_password: str, new_password: str) -> None:
        """Prove the old password (expired or must-change is fine: that is the point), apply the
        local policy (MIN_PASSWORD_LENGTH, not the same again), store the new hash."""
        if not old_password:
            raise InvalidCredentials(detail="empty password")
        async with self._sessions() as session:
            row = await self._row(session, username)
            stored = row.password_hash if row is not None and row.password_hash else None
            try:
                ok = await self._cpu(PASSWORDS.verify, old_password, stored or await self._dummy())
            except (ValueError, TypeError) as exc:  # a stored hash no scheme recognises
                raise InvalidCredentials(detail=f"unusable password hash: {exc}") from exc
            if row is None or stored is None or not ok:
                raise InvalidCredentials(detail="wrong password" if row else "no such user")
            locked_until = _aware(row.locked_until)
            if row.disabled:
                raise AccountDisabled()
            if locked_until is not None and locked_until > datetime.now(UTC):
                raise AccountLocked(detail=f"locked until {locked_until.isoformat()}")
            # policy after the old password, as a directory does: a rejection means it was right
            if len(new_password) < MIN_PASSWORD_LENGTH:
                raise PasswordRejected("too_short", detail=f"shorter than {MIN_PASSWORD_LENGTH}")
            if new_password == old_password:
                raise PasswordRejected("in_history", detail="the same password again")
            row.password_hash = await self._cpu(PASSWORDS.hash, new_password)
            row.password_expired = row.must_change = False
            await session.commit()

    # --- writing -------------------------------------------------------------------------------

    async def create_person(
        self,
        username: str,
        password: str | None = None,
        password_hash: str | None = None,
        groups: Iterable[str] = (),
        attributes: Mapping[str, Iterable[str]] | None = None,
        **fields: Any,
    ) -> Person:
        """Add a person; `password_hash` may be an LDAP export's {SSHA}/{CRYPT} value. With
        `groups` and `attributes` (further attributes by name, such as the identity link), the
        person, the memberships and the attributes are one transaction: all or nothing."""
        spelled = normalize_username(username)
        if not spelled or not spelled.isprintable():
            raise ValueError("a username is required, without control characters")
        if password is not None and password_hash is not None:
            raise ValueError("give a password or a password_hash, not both")
        if password_hash is not None and not PASSWORDS.identify(password_hash):
            raise ValueError("password_hash is in no supported scheme (argon2, {SSHA}, {CRYPT}…)")
        values: dict[str, Any] = {"affiliations": [], "entitlements": []}
        values |= self._clean(fields, {"disabled", "must_change", "password_expired", "locked_until"})
        row = DirPerson(
            subject=str(uuid.uuid4()),
            username=spelled,
            username_key=username_key(spelled),
            password_hash=await self._cpu(PASSWORDS.hash, password) if password else password_hash,
            **values,
        )
        async with self._sessions() as session:
            session.add(row)
            try:
                await session.flush()
                for group in dict.fromkeys(groups):
                    group_id = await session.scalar(select(DirGroup.id).where(DirGroup.name == group))
                    if group_id is None:
                        raise NoSuchEntry(f"no group {group!r}")  # rolled back with the person
                    session.add(DirMembership(person_id=row.id, group_id=group_id))
                session.add_all(attribute_rows(row.id, attributes or {}))
                await session.commit()
            except IntegrityError as exc:
                raise AlreadyExists(f"a person named {spelled!r} already exists") from exc
            return await self._person(session, row)

    @staticmethod
    def _clean(fields: dict[str, Any], extra: Iterable[str] = ()) -> dict[str, Any]:
        allowed = PERSON_FIELDS | set(extra)
        unknown = sorted(set(fields) - allowed)
        if unknown:
            raise ValueError(f"unknown person field(s): {', '.join(unknown)}")
        return {key: list(value or ()) if key in LIST_FIELDS else value for key, value in fields.items()}

    async def _change(self, username: str, **values: Any) -> Person:
        async with self._sessions() as session:
            row = await self._required(session, username)
            for key, value in values.items():
                setattr(row, key, value)
            await session.commit()
            return await self._person(session, row)

    async def update_person(self, username: str, **fields: Any) -> Person:
        return await self._change(username, **self._clean(fields))

    async def set_password(self, username: str, password: str, *, must_change: bool = False) -> None:
        if not password:
            raise ValueError("an empty password cannot be set")
        hashed = await self._cpu(PASSWORDS.hash, password)
        await self._change(username, password_hash=hashed, password_expired=False, must_change=must_change)

    async def set_attribute(self, username: str, name: str, values: Iterable[str]) -> None:
        """Replace the values of one of the person's further attributes (none: remove it)."""
        async with self._sessions() as session:
            row = await self._required(session, username)
            await replace_attribute(session, row.id, name, values)
            await session.commit()

    async def set_disabled(self, username: str, disabled: bool = True) -> None:
        await self._change(username, disabled=disabled)

    async def lock(self, username: str, until: datetime | None = None) -> None:
        """Lock the account until `until` (or until `unlock`)."""
        await self._change(username, locked_until=until or FOREVER)

    async def unlock(self, username: str) -> None:
        await self._change(username, locked_until=None)

    async def expire_password(self, username: str) -> None:
        await self._change(username, password_expired=True)

    async def require_password_change(self, username: str) -> None:
        await self._change(username, must_change=True)

    async def delete_person(self, username: str) -> None:
        """Remove a person and their memberships (the admin import rolls a failed row back)."""
        async with self._sessions() as session:
            row = await self._required(session, username)
            await session.execute(delete(DirMembership).where(DirMembership.person_id == row.id))
            await session.execute(delete(DirAttribute).where(DirAttribute.person_id == row.id))
            await session.delete(row)
            await session.commit()

    async def account_state(self, username: str) -> AccountState:
        """Disabled / locked / must-change, for the admin console (DirectoryWriter)."""
        async with self._sessions() as session:
            row = await self._required(session, username)
        locked_until = _aware(row.locked_until)
        return AccountState(
            disabled=row.disabled, must_change=row.must_change,
            locked=locked_until is not None and locked_until > datetime.now(UTC),
            password_expired=row.password_expired,
        )

    async def create_group(self, name: str, description: str | None = None) -> Group:
        if not name.strip():
            raise ValueError("a group name is required")
        async with self._sessions() as session:
            session.add(DirGroup(name=name.strip(), description=description))
            try:
                await session.commit()
            except IntegrityError as exc:
                raise AlreadyExists(f"a group named {name!r} already exists") from exc
        return Group(name=name.strip(), description=description)

    async def _ids(self, session: AsyncSession, group: str, username: str) -> tuple[int, int]:
        person = await self._required(session, username)
        group_id = await session.scalar(select(DirGroup.id).where(DirGroup.name == group))
        if group_id is None:
            raise NoSuchEntry(f"no group {group!r}")
        return person.id, group_id

    async def add_member(self, group: str, username: str) -> None:
        """Put the person in the group; already being a member is fine."""
        async with self._sessions() as session:
            person_id, group_id = await self._ids(session, group, username)
            if await session.get(DirMembership, (person_id, group_id)) is None:
                session.add(DirMembership(person_id=person_id, group_id=group_id))
                await session.commit()

    async def remove_member(self, group: str, username: str) -> None:
        async with self._sessions() as session:
            person_id, group_id = await self._ids(session, group, username)
            await session.execute(
                delete(DirMembership).where(
                    DirMembership.person_id == person_id, DirMembership.group_id == group_id
                )
            )
            await session.commit()


def lock_for(minutes: float) -> datetime:
    """A locked_until moment `minutes` from now."""
    return datetime.now(UTC) + timedelta(minutes=minutes)

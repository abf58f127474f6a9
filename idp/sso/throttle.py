"""Login throttle, in the Store, consulted before the directory is asked.

Every failed bind counts toward the directory's own lockout (LDAP-PITFALLS 10), so the IdP
refuses first: an account gets at most `budget` password checks per window, where the budget
stays below the directory's lockout threshold (ppolicy pwdMaxFailure, AD lockoutThreshold, read
through `Directory.lockout_threshold`). An attempt is counted *before* the bind with an atomic
increment, so twenty guesses sent at once cannot all slip past a check that has not yet seen the
others fail. A client address is refused after `per_ip` failures (a password spray across many
accounts); successes do not count there, because a whole campus may sit behind one NAT address.

Exponential backoff: when an account or address runs out, it is refused for `window` seconds,
and each refusal period that follows without a successful login in between doubles, up to
`backoff_max`. A successful login (or a right password that must be changed) resets the account.

Counters are keyed by what the directory will match, not by what was typed: the entry the name
finds (`Directory.locate`, a search that touches no failure count), so that `ｚhuxin`, `𝐳𝐡𝐮𝐱𝐢𝐧`,
`ⓩhuxin` and `zhuxin`, which OpenLDAP all matches to uid=zhuxin, share one budget and a stranger
cannot add a fifth failure to the entry under another spelling. A name that finds no entry is
counted under its NFKC + case-folded form, so a refusal reveals nothing either way.

Only the person's own mistakes count. When the directory cannot answer (DirectoryUnavailable),
the attempt counted before the bind is given back (`refund`), so an outage never uses up
anybody's budget; the address counter only ever counts wrong passwords.

Keys, all under `throttle:login:`: `acct:{h}` attempts, `ip:{addr}` failures, `block:acct:{h}` /
`block:ip:{addr}` a refusal period, `strikes:…` refusal periods in a row, `name:{h}` the login
name (as the directory spells it, for `idp throttles`).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from directory.base import Directory, DirectoryError, normalize_username, username_key
from idp.settings import Settings, ThrottleSettings
from idp.store.base import Store

log = logging.getLogger("idp.throttle")

PREFIX = "throttle:login:"


def throttle_settings(settings: Settings) -> ThrottleSettings:
    return settings.throttle


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def entry_hash(key: str) -> str:
    """The account hash of a directory entry (`Account.key`: its subject)."""
    return _digest(f"entry:{key}")


def name_hash(username: str) -> str:
    """The account hash of a login name that finds no entry."""
    return _digest(f"name:{username_key(username)}")


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after: int = 0  # seconds, when refused
    account: str = ""  # the account hash this attempt was counted against ("": not counted)

    @property
    def minutes(self) -> int:
        return max(1, -(-self.retry_after // 60))


ALLOWED = Verdict(True)


class LoginThrottle:
    """Checks and counts password attempts; see the module docstring."""

    def __init__(self, store: Store, directory: Directory, config: ThrottleSettings) -> None:
        self.store = store
        self.directory = directory
        self.config = config

    @classmethod
    def of(cls, services: Any) -> LoginThrottle:
        return cls(services.store, services.directory, throttle_settings(services.settings))

    # --- budget -----------------------------------------------------------------------------

    async def budget(self, username: str) -> int:
        """Password checks allowed per window: below the directory's threshold when it locks."""
        config = self.config
        if not config.follow_directory:
            return config.per_account
        try:
            threshold = await self.directory.lockout_threshold(username)
        except DirectoryError as exc:
            log.warning("cannot read the directory's lockout threshold: %s", exc.detail or exc)
            return min(config.per_account, config.fallback_per_account)
        except AttributeError:  # a directory without the method: assume it locks
            return min(config.per_account, config.fallback_per_account)
        if threshold is None:
            return config.per_account
        if threshold <= 1:
            log.warning("the directory locks after %s failure: every wrong password locks", threshold)
        return max(1, min(config.per_account, threshold - 1))

    # --- the login pipeline -----------------------------------------------------------------

    async def account(self, username: str) -> tuple[str, str]:
        """(account hash, name to show) of a typed login name: the entry it finds, else the
        name itself. A search, never a bind; DirectoryUnavailable rises (nothing is counted)."""
        found = await self.directory.locate(username)
        if found is not None:
            return entry_hash(found.key), found.username
        return name_hash(username), normalize_username(username)

    async def check(self, username: str, ip: str) -> Verdict:
        """Before any bind: refuse, or count this attempt against the entry and let it
        through (the verdict names what it counted, for `succeeded` and `refund`)."""
        if not self.config.enabled:
            return ALLOWED
        h, shown = await self.account(username)
        # the refusal periods, the count and (on the first attempt) the name: one round trip
        attempts, left = await self.store.incr_unless(
            f"{PREFIX}acct:{h}", self.config.window,
            (f"{PREFIX}block:ip:{ip}", f"{PREFIX}block:acct:{h}"),
            first=(f"{PREFIX}name:{h}", shown[:256],
                   self.config.window + self.config.backoff_max))
        if left:
            return Verdict(False, left)
        counted = Verdict(True, account=h)
        if attempts == 1:
            return counted  # one attempt is within every budget: no need to ask the directory
        if attempts > await self.budget(username):
            return await self._refuse(f"acct:{h}")
        return counted

    async def refund(self, attempt: Verdict) -> None:
        """The directory could not answer (DirectoryUnavailable): the attempt `check` counted
        was no guess, so it is given back. Should the counter have expired in between, the
        decrement made a fresh one at -1: adding the 1 back (rather than deleting it) keeps an
        attempt that another request counted meanwhile."""
        if not attempt.account:
            return
        key = f"{PREFIX}acct:{attempt.account}"
        if await self.store.incr(key, self.config.window, -1) < 0:
            await self.store.incr(key, self.config.window, 1)

    async def failed(self, ip: str) -> None:
        """The directory said no (the account's attempt is already counted by `check`)."""
        if not self.config.enabled:
            return
        failures = await self.store.incr(f"{PREFIX}ip:{ip}", self.config.window)
        if failures >= self.config.per_ip:
            await self._refuse(f"ip:{ip}")

    async def succeeded(self, attempt: Verdict) -> None:
        """The right password: the account starts afresh. The address keeps its count (one good
        password must not reset a spraying campaign)."""
        if not attempt.account:
            return
        h = attempt.account
        await self.store.delete(f"{PREFIX}acct:{h}", f"{PREFIX}strikes:acct:{h}",
                                f"{PREFIX}block:acct:{h}", f"{PREFIX}name:{h}")

    async def _refuse(self, subject: str) -> Verdict:
        """Start a refusal period for `subject` ("acct:{h}" or "ip:{addr}"): window, doubled for
        each period in a row, at most backoff_max. Requests refused together start one period
        (set-if-absent), so a burst of guesses counts as one strike, not twenty.

        The counter is left to expire: it started with the first attempt, at least a window
        before the period ends, so the next period starts with a full budget, and no request
        racing this one can find it reset and slip through."""
        config = self.config
        strikes_key, block_key = f"{PREFIX}strikes:{subject}", f"{PREFIX}block:{subject}"
        strikes = int(await self.store.get(strikes_key) or 0)
        period = min(config.window * 2 ** min(strikes, 30), config.backoff_max)
        if await self.store.add(block_key, str(strikes + 1), period):
            await self.store.incr(strikes_key, config.backoff_max + config.window)
            return Verdict(False, period)
        return Verdict(False, await self.store.ttl(block_key) or period)


# --- what admins see and clear (`idp throttles`) -------------------------------------------------


@dataclass(slots=True)
class ThrottleRecord:
    kind: str  # "account" or "ip"
    name: str  # the login name (as the directory spells it, else as typed), or the address
    count: int = 0  # account: password checks this window; ip: failures this window
    blocked_for: int | None = None  # seconds of refusal left
    strikes: int = 0  # refusal periods in a row (each doubles the next)

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "name": self.name, "count": self.count,
                "blocked_for": self.blocked_for, "strikes": self.strikes}


async def list_throttles(store: Store) -> list[ThrottleRecord]:
    """Every account and address with a live counter, refusal or strike, blocked ones first."""
    records: dict[tuple[str, str], ThrottleRecord] = {}
    names: dict[str, str] = {}
    for key in await store.keys(PREFIX):
        rest = key[len(PREFIX):]
        field, _, subject = rest.partition(":")
        if field == "name":
            names[subject] = await store.get(key) or subject
            continue
        if field in ("block", "strikes"):
            kind, _, ident = subject.partition(":")
        else:
            kind, ident = field, subject
        if kind not in ("acct", "ip") or not ident:
            continue
        record = records.setdefault((kind, ident), ThrottleRecord(
            "account" if kind == "acct" else "ip", ident))
        if field == "block":
            record.blocked_for = await store.ttl(key)
        elif field == "strikes":
            record.strikes = int(await store.get(key) or 0)
        else:
            record.count = int(await store.get(key) or 0)
    for (kind, ident), record in records.items():
        if kind == "acct":
            record.name = names.get(ident, f"sha256:{ident[:16]}")
    return sorted(records.values(), key=lambda r: (r.blocked_for is None, r.kind, r.name))


async def clear_throttles(store: Store, *, account: str | None = None, ip: str | None = None,
                          everything: bool = False) -> int:
    """Forget the counters, refusals and strikes of an account and/or an address (or all).

    An account is counted under its directory entry, which this function (run by `idp
    throttles` without a directory) cannot look up: it finds the account by the names kept
    beside the counters instead, compared as the directory would (NFKC, case folded)."""
    if everything:
        keys = await store.keys(PREFIX)
        return await store.delete(*keys) if keys else 0
    keys = []
    if account is not None:
        wanted = username_key(account)
        hashes = {name_hash(account)}
        for key in await store.keys(f"{PREFIX}name:"):
            if username_key(await store.get(key) or "") == wanted:
                hashes.add(key[len(f"{PREFIX}name:"):])
        for h in sorted(hashes):
            keys += [f"{PREFIX}acct:{h}", f"{PREFIX}block:acct:{h}",
                     f"{PREFIX}strikes:acct:{h}", f"{PREFIX}name:{h}"]
    if ip is not None:
        keys += [f"{PREFIX}ip:{ip}", f"{PREFIX}block:ip:{ip}", f"{PREFIX}strikes:ip:{ip}"]
    return await store.delete(*keys) if keys else 0

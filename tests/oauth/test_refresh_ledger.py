"""The refresh-token ledger (idp/protocols/oidc/ledger.py) straight against the database, on SQLite and
PostgreSQL: rotation is atomic and has exactly one winner under real concurrency, a lost or
refused rotation writes nothing, revocation reaches the whole family and only it."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from idp.db.models import RefreshToken
from idp.protocols.oidc import ledger
from idp.protocols.oidc.models import RefreshGrant, RefreshRecord
from idp.protocols.oidc.tokens import token_digest
from tests.support.server import LiveIdp


def new_token(family: str | None = None, **facts: object) -> RefreshRecord:
    values: dict[str, object] = {
        "digest": token_digest(secrets.token_urlsafe(32)),
        "family_id": family or secrets.token_urlsafe(24), "client_id": "ledger-test",
        "subject": "subject-" + secrets.token_hex(4), "scope": "openid offline_access",
        "expires_at": datetime.now(UTC) + timedelta(days=30),
        "sid": "sid-1", "auth_time": 1_700_000_000, "acr": "urn:campus-idp:acr:pwd",
        "amr": ["pwd"], "nonce": None,
    }
    values.update(facts)
    return RefreshRecord(**values)  # type: ignore[arg-type]


async def rows_of(live: LiveIdp, family: str) -> dict[str, RefreshToken]:
    async with live.services.db() as db:
        found = await db.scalars(select(RefreshToken).where(RefreshToken.family_id == family))
        return {row.digest: row for row in found}


async def test_a_stored_token_reads_back_as_it_was_written(live: LiveIdp) -> None:
    first = new_token(amr=["pwd", "otp"], acr="urn:campus-idp:acr:mfa", nonce="n-1")
    before = datetime.now(UTC)
    assert await ledger.store_refresh(live.services, first, None)
    row = await ledger.refresh_row(live.services, first.digest)
    assert row is not None
    for name in ("digest", "family_id", "client_id", "subject", "scope", "sid", "auth_time",
                 "acr", "amr", "nonce"):
        assert getattr(row, name) == getattr(first, name), name
    # instants come back aware and equal (to the microsecond on PostgreSQL and SQLite)
    assert row.expires_at == first.expires_at and row.expires_at.tzinfo is not None
    assert row.created_at is not None and before - timedelta(seconds=1) <= row.created_at
    assert row.rotated_at is None and row.revoked_at is None
    grant = RefreshGrant(row)
    assert not grant.is_revoked() and not grant.is_expired() and grant.get_user() == first.subject
    assert await ledger.refresh_row(live.services, token_digest("never issued")) is None


async def test_rotation_marks_the_old_token_and_inserts_the_new_one(live: LiveIdp) -> None:
    first = new_token()
    assert await ledger.store_refresh(live.services, first, None)
    second = new_token(first.family_id, subject=first.subject)
    assert await ledger.store_refresh(live.services, second, first.digest)
    old = await ledger.refresh_row(live.services, first.digest)
    new = await ledger.refresh_row(live.services, second.digest)
    assert old is not None and old.rotated_at is not None and old.revoked_at is None
    assert new is not None and new.rotated_at is None and new.family_id == first.family_id
    assert RefreshGrant(old).is_rotated() and not RefreshGrant(new).is_revoked()
    # the same token cannot be rotated a second time: nothing is written
    third = new_token(first.family_id)
    assert not await ledger.store_refresh(live.services, third, first.digest)
    assert await ledger.refresh_row(live.services, third.digest) is None


async def test_of_concurrent_rotations_of_one_token_exactly_one_wins(live: LiveIdp) -> None:
    first = new_token()
    assert await ledger.store_refresh(live.services, first, None)
    contenders = [new_token(first.family_id, subject=first.subject) for _ in range(6)]
    results = await asyncio.gather(*(ledger.store_refresh(live.services, token, first.digest)
                                     for token in contenders))
    assert results.count(True) == 1, results
    winner = contenders[results.index(True)]
    rows = await rows_of(live, first.family_id)
    # the old token and the winner's, nothing of the losers
    assert set(rows) == {first.digest, winner.digest}
    assert rows[first.digest].rotated_at is not None


async def test_a_revoked_or_unknown_token_cannot_be_rotated(live: LiveIdp) -> None:
    first = new_token()
    assert await ledger.store_refresh(live.services, first, None)
    await ledger.revoke_families(live.services, [first.family_id])
    successor = new_token(first.family_id)
    assert not await ledger.store_refresh(live.services, successor, first.digest)
    assert not await ledger.store_refresh(live.services, new_token(), token_digest("unknown"))
    assert set(await rows_of(live, first.family_id)) == {first.digest}


async def test_revoking_families_reaches_every_member_and_no_other_family(live: LiveIdp) -> None:
    first, other, third = new_token(), new_token(), new_token()
    for token in (first, other, third):
        assert await ledger.store_refresh(live.services, token, None)
    second = new_token(first.family_id)
    assert await ledger.store_refresh(live.services, second, first.digest)
    assert await ledger.revoke_families(live.services, [third.family_id]) == 1
    earlier = (await rows_of(live, third.family_id))[third.digest].revoked_at
    # the first family's two rows are revoked; one of them (rotated) no longer worked
    assert await ledger.revoke_families(live.services, [first.family_id, third.family_id]) == 1
    family = await rows_of(live, first.family_id)
    assert all(row.revoked_at is not None for row in family.values()) and len(family) == 2
    assert (await rows_of(live, other.family_id))[other.digest].revoked_at is None
    # an already revoked token keeps the time it was revoked first
    assert (await rows_of(live, third.family_id))[third.digest].revoked_at == earlier
    await ledger.revoke_families(live.services, [])  # nothing to do, and no error


async def test_revoking_a_person_counts_the_tokens_that_still_worked(live: LiveIdp) -> None:
    subject = "subject-" + secrets.token_hex(4)
    first, other_app = new_token(subject=subject), new_token(subject=subject, client_id="other")
    for token in (first, other_app):
        assert await ledger.store_refresh(live.services, token, None)
    previous = first
    for _ in range(3):  # refreshed three times: three rotated rows and one live token
        successor = new_token(first.family_id, subject=subject)
        assert await ledger.store_refresh(live.services, successor, previous.digest)
        previous = successor
    bystander = new_token()
    assert await ledger.store_refresh(live.services, bystander, None)
    assert await ledger.revoke_subject(live.services, subject) == 2
    assert all(row.revoked_at is not None
               for row in (await rows_of(live, first.family_id)).values())
    assert (await rows_of(live, bystander.family_id))[bystander.digest].revoked_at is None
    assert await ledger.revoke_subject(live.services, subject) == 0


async def test_a_claim_rotates_and_inserts_the_copy_in_one_step(live: LiveIdp) -> None:
    first = new_token(amr=["pwd", "otp"], nonce="n-1")
    assert await ledger.store_refresh(live.services, first, None)
    successor = token_digest(secrets.token_urlsafe(32))
    claimed = await ledger.claim_refresh(live.services, first.digest, first.client_id, successor)
    assert claimed is not None
    row, claim = claimed
    # the row as it was before the claim: usable, as the grant must see it
    assert row.digest == first.digest and row.rotated_at is None and row.amr == ["pwd", "otp"]
    rows = await rows_of(live, first.family_id)
    assert set(rows) == {first.digest, successor}
    assert rows[first.digest].rotated_at is not None
    copy = rows[successor]
    for name in ("family_id", "client_id", "subject", "scope", "sid", "auth_time", "acr", "amr"):
        assert getattr(copy, name) == getattr(first, name), name
    assert copy.expires_at == first.expires_at  # the family's absolute expiry
    assert copy.nonce is None and copy.rotated_at is None and copy.revoked_at is None
    assert claim.digest == first.digest and claim.successor == successor
    # claimed once: a second claim (a reuse) gets nothing and writes nothing
    again = token_digest(secrets.token_urlsafe(32))
    assert await ledger.claim_refresh(live.services, first.digest, first.client_id, again) is None
    assert set(await rows_of(live, first.family_id)) == {first.digest, successor}


async def test_only_the_tokens_client_can_claim_it_and_only_while_usable(live: LiveIdp) -> None:
    first = new_token()
    assert await ledger.store_refresh(live.services, first, None)
    successor = token_digest(secrets.token_urlsafe(32))
    assert await ledger.claim_refresh(live.services, first.digest, "another-client",
                                      successor) is None
    assert await ledger.claim_refresh(live.services, token_digest("unknown"), first.client_id,
                                      successor) is None
    await ledger.revoke_families(live.services, [first.family_id])
    assert await ledger.claim_refresh(live.services, first.digest, first.client_id,
                                      successor) is None
    rows = await rows_of(live, first.family_id)
    assert set(rows) == {first.digest} and rows[first.digest].rotated_at is None


async def test_a_claim_given_back_leaves_the_token_as_it_was(live: LiveIdp) -> None:
    first = new_token()
    assert await ledger.store_refresh(live.services, first, None)
    successor = token_digest(secrets.token_urlsafe(32))
    claimed = await ledger.claim_refresh(live.services, first.digest, first.client_id, successor)
    assert claimed is not None
    await ledger.release_claim(live.services, claimed[1])
    rows = await rows_of(live, first.family_id)
    assert set(rows) == {first.digest} and rows[first.digest].rotated_at is None
    # usable again: the next claim wins
    later = token_digest(secrets.token_urlsafe(32))
    assert await ledger.claim_refresh(live.services, first.digest, first.client_id,
                                      later) is not None


async def test_a_revocation_during_a_claim_stays_when_it_is_given_back(live: LiveIdp) -> None:
    first = new_token()
    assert await ledger.store_refresh(live.services, first, None)
    successor = token_digest(secrets.token_urlsafe(32))
    claimed = await ledger.claim_refresh(live.services, first.digest, first.client_id, successor)
    assert claimed is not None
    await ledger.revoke_families(live.services, [first.family_id])
    await ledger.release_claim(live.services, claimed[1])
    rows = await rows_of(live, first.family_id)
    assert set(rows) == {first.digest} and rows[first.digest].revoked_at is not None
    assert await ledger.claim_refresh(live.services, first.digest, first.client_id,
                                      token_digest(secrets.token_urlsafe(32))) is None


async def test_of_concurrent_claims_of_one_token_exactly_one_wins(live: LiveIdp) -> None:
    first = new_token()
    assert await ledger.store_refresh(live.services, first, None)
    successors = [token_digest(secrets.token_urlsafe(32)) for _ in range(6)]
    results = await asyncio.gather(*(ledger.claim_refresh(live.services, first.digest,
                                                          first.client_id, successor)
                                     for successor in successors))
    winners = [successor for successor, result in zip(successors, results, strict=True)
               if result is not None]
    assert len(winners) == 1, results
    assert set(await rows_of(live, first.family_id)) == {first.digest, winners[0]}


async def test_claims_made_at_once_each_get_their_own_answer(live: LiveIdp) -> None:
    """On PostgreSQL claims made together go in one statement (idp/db/grouped.py): each must
    still get its own row and successor, and a refused one must not touch the others."""
    usable = [new_token() for _ in range(5)]
    revoked, taken = new_token(), new_token()
    for token in (*usable, revoked, taken):
        assert await ledger.store_refresh(live.services, token, None)
    await ledger.revoke_families(live.services, [revoked.family_id])
    assert await ledger.claim_refresh(live.services, taken.digest, taken.client_id,
                                      token_digest(secrets.token_urlsafe(32))) is not None
    asked = [(token.digest, token.client_id) for token in usable] + [
        (usable[0].digest, "another-client"), (revoked.digest, revoked.client_id),
        (taken.digest, taken.client_id), (token_digest("unknown"), usable[0].client_id)]
    successors = [token_digest(secrets.token_urlsafe(32)) for _ in asked]
    results = await asyncio.gather(*(ledger.claim_refresh(live.services, digest, client,
                                                          successor)
                                     for (digest, client), successor in zip(asked, successors,
                                                                            strict=True)))
    for token, successor, result in zip(usable, successors[:len(usable)], results[:len(usable)],
                                        strict=True):
        assert result is not None, token
        row, claim = result
        assert row.digest == token.digest and row.subject == token.subject
        assert claim.digest == token.digest and claim.successor == successor
        rows = await rows_of(live, token.family_id)
        assert set(rows) == {token.digest, successor}
        assert rows[token.digest].rotated_at is not None and rows[successor].rotated_at is None
    assert results[len(usable):] == [None, None, None, None]
    assert set(await rows_of(live, revoked.family_id)) == {revoked.digest}
    assert len(await rows_of(live, taken.family_id)) == 2  # its one claim's successor only
    # each claim is given back on its own: the others stay claimed
    first = results[0]
    assert first is not None
    await ledger.release_claim(live.services, first[1])
    assert (await rows_of(live, usable[0].family_id))[usable[0].digest].rotated_at is None
    assert (await rows_of(live, usable[1].family_id))[usable[1].digest].rotated_at is not None

"""The Store contract (idp/store/base.py), run against the in-process store and real Redis.

Both backends must behave alike, so a feature tested on the laptop (memory) holds in production
(Redis). TTLs are whole seconds; the expiry tests share one short sleep to keep the suite fast.
"""

from __future__ import annotations

import asyncio

from idp.store import Store


async def test_is_a_store(store: Store) -> None:
    assert isinstance(store, Store)
    assert store.name in ("memory", "redis")
    assert store.shared is (store.name == "redis")
    await store.ping()


async def test_get_missing_is_none(store: Store) -> None:
    assert await store.get("nothing-here") is None


async def test_put_then_get(store: Store) -> None:
    await store.put("sess:1", "alice", ttl=60)
    assert await store.get("sess:1") == "alice"


async def test_get_many_answers_each_key_in_order(store: Store) -> None:
    await store.put("many:a", "1", ttl=60)
    await store.put("many:c", "3", ttl=60)
    assert await store.get_many("many:a", "many:b", "many:c") == ["1", None, "3"]
    assert await store.get_many("many:b") == [None]


async def test_put_overwrites_value_and_ttl(store: Store) -> None:
    await store.put("sess:1", "alice", ttl=60)
    await store.put("sess:1", "bob", ttl=300)
    assert await store.get("sess:1") == "bob"
    assert 298 <= (await store.ttl("sess:1") or 0) <= 300


async def test_values_keep_unicode_and_json(store: Store) -> None:
    value = '{"name": "张三", "groups": ["教务处", "staff"]}'
    await store.put("sess:zh", value, ttl=60)
    assert await store.get("sess:zh") == value


async def test_ttl_reports_seconds_left(store: Store) -> None:
    await store.put("code:1", "x", ttl=100)
    left = await store.ttl("code:1")
    assert left is not None and 98 <= left <= 100


async def test_ttl_of_missing_key_is_none(store: Store) -> None:
    assert await store.ttl("code:none") is None


async def test_add_sets_only_when_absent(store: Store) -> None:
    assert await store.add("nonce:n1", "first", ttl=60) is True
    assert await store.add("nonce:n1", "second", ttl=60) is False
    assert await store.get("nonce:n1") == "first"


async def test_add_after_put_is_refused(store: Store) -> None:
    await store.put("nonce:n2", "there", ttl=60)
    assert await store.add("nonce:n2", "other", ttl=60) is False
    assert await store.get("nonce:n2") == "there"


async def test_take_returns_value_once(store: Store) -> None:
    await store.put("code:abc", "grant", ttl=60)
    assert await store.take("code:abc") == "grant"
    assert await store.take("code:abc") is None
    assert await store.get("code:abc") is None


async def test_take_missing_is_none(store: Store) -> None:
    assert await store.take("code:never") is None


async def test_take_is_atomic_under_concurrency(store: Store) -> None:
    """Fifty concurrent redemptions of one code: exactly one may win (RFC 6749 §4.1.2)."""
    await store.put("code:race", "grant", ttl=60)
    results = await asyncio.gather(*(store.take("code:race") for _ in range(50)))
    winners = [r for r in results if r is not None]
    assert winners == ["grant"]
    assert results.count(None) == 49


async def test_take_leaving_takes_once_and_leaves_the_trace(store: Store) -> None:
    await store.put("code:t1", "grant", ttl=60)
    assert await store.take_leaving("code:t1", "used:t1", "trace-1", ttl=120) == ("grant", None)
    assert await store.get("code:t1") is None
    assert await store.get("used:t1") == "trace-1"
    assert 110 <= (await store.ttl("used:t1") or 0) <= 120
    # the second redemption writes nothing and meets the first one's trace
    assert await store.take_leaving("code:t1", "used:t1", "trace-2", ttl=120) == (None, "trace-1")
    assert await store.get("used:t1") == "trace-1"


async def test_take_leaving_a_missing_item_without_a_trace(store: Store) -> None:
    assert await store.take_leaving("code:none", "used:none", "t", ttl=60) == (None, None)
    assert await store.get("used:none") is None


async def test_take_leaving_is_atomic_under_concurrency(store: Store) -> None:
    """Fifty concurrent redemptions: one takes the item; every other meets its trace, never a
    moment with neither the item nor the trace."""
    await store.put("code:race2", "grant", ttl=60)
    results = await asyncio.gather(*(store.take_leaving("code:race2", "used:race2", f"t{i}", 60)
                                     for i in range(50)))
    winners = [i for i, (value, _) in enumerate(results) if value == "grant"]
    assert len(winners) == 1
    trace = f"t{winners[0]}"
    assert all(found == trace for value, found in results if value is None)
    assert await store.get("used:race2") == trace


async def test_set_add_keeps_members_and_restarts_the_ttl(store: Store) -> None:
    await store.set_add("sso-clients:s1", "a", ttl=30)
    await store.set_add("sso-clients:s1", "b", ttl=90)
    assert await store.set_members("sso-clients:s1") == {"a", "b"}
    assert 80 <= (await store.ttl("sso-clients:s1") or 0) <= 90


async def test_write_many_puts_and_adds_members_in_one_call(store: Store) -> None:
    await store.set_add("links:s1", "old", ttl=30)
    await store.write_many([("code:a", "grant-a", 60), ("code:b", "grant-b", 5)],
                           [("links:s1", "app", 90), ("links:s2", "other", 40)])
    assert await store.get_many("code:a", "code:b") == ["grant-a", "grant-b"]
    assert 55 <= (await store.ttl("code:a") or 0) <= 60
    assert 1 <= (await store.ttl("code:b") or 0) <= 5
    assert await store.set_members("links:s1") == {"old", "app"}
    assert 80 <= (await store.ttl("links:s1") or 0) <= 90  # restarted, as set_add does
    assert await store.set_members("links:s2") == {"other"}
    await store.write_many([("code:c", "only", 30)])
    await store.write_many([], [("links:s3", "alone", 30)])
    await store.write_many([])
    assert await store.get("code:c") == "only"
    assert await store.set_members("links:s3") == {"alone"}


async def test_add_is_atomic_under_concurrency(store: Store) -> None:
    results = await asyncio.gather(*(store.add("nonce:race", str(i), ttl=60) for i in range(50)))
    assert results.count(True) == 1
    winner = results.index(True)
    assert await store.get("nonce:race") == str(winner)


async def test_delete_counts_existing_keys(store: Store) -> None:
    await store.put("d:1", "a", ttl=60)
    await store.put("d:2", "b", ttl=60)
    assert await store.delete("d:1", "d:2", "d:missing") == 2
    assert await store.get("d:1") is None
    assert await store.get("d:2") is None
    assert await store.delete("d:1") == 0


async def test_delete_nothing_is_zero(store: Store) -> None:
    assert await store.delete() == 0


async def test_delete_removes_sets_too(store: Store) -> None:
    await store.set_add("sids:alice", "s1", ttl=60)
    assert await store.delete("sids:alice") == 1
    assert await store.set_members("sids:alice") == set()


async def test_incr_counts_from_one(store: Store) -> None:
    assert await store.incr("fail:alice", ttl=60) == 1
    assert await store.incr("fail:alice", ttl=60) == 2
    assert await store.incr("fail:alice", ttl=60) == 3
    assert await store.get("fail:alice") == "3"


async def test_incr_by_an_amount(store: Store) -> None:
    assert await store.incr("rate:a", ttl=60, amount=5) == 5
    assert await store.incr("rate:a", ttl=60, amount=3) == 8
    assert await store.incr("rate:a", ttl=60) == 9
    left = await store.ttl("rate:a")
    assert left is not None and 55 <= left <= 60


async def test_incr_gives_back_without_moving_the_window(store: Store) -> None:
    """The login throttle's refund: -1 takes a count back and leaves the window's end alone."""
    await store.incr("fail:carol", ttl=30, amount=2)
    assert await store.incr("fail:carol", ttl=600, amount=-1) == 1
    left = await store.ttl("fail:carol")
    assert left is not None and 28 <= left <= 30
    assert await store.get("fail:carol") == "1"


async def test_incr_ttl_starts_at_first_increment(store: Store) -> None:
    """A throttle window is fixed: later failures must not push the window's end further out."""
    await store.incr("fail:bob", ttl=30)
    await store.incr("fail:bob", ttl=600)
    left = await store.ttl("fail:bob")
    assert left is not None and 28 <= left <= 30


async def test_incr_is_atomic_under_concurrency(store: Store) -> None:
    counts = await asyncio.gather(*(store.incr("fail:burst", ttl=60) for _ in range(50)))
    assert sorted(counts) == list(range(1, 51))


async def test_incr_unless_counts_and_puts_first_only_once(store: Store) -> None:
    first = ("name:dora", "dora", 90)
    assert await store.incr_unless("acct:dora", 30, ("block:x", "block:y"), first) == (1, 0)
    assert await store.get("name:dora") == "dora"
    left = await store.ttl("name:dora")
    assert left is not None and 85 <= left <= 90
    await store.put("name:dora", "changed", ttl=90)
    assert await store.incr_unless("acct:dora", 600, ("block:x",), first) == (2, 0)
    assert await store.get("name:dora") == "changed"  # `first` is put on a count of 1 only
    left = await store.ttl("acct:dora")
    assert left is not None and 28 <= left <= 30  # the window started with the first count
    assert await store.incr_unless("acct:erin", 30, ()) == (1, 0)


async def test_incr_unless_a_blocker_counts_nothing(store: Store) -> None:
    await store.put("block:ip", "1", ttl=45)
    count, left = await store.incr_unless("acct:fay", 30, ("block:acct", "block:ip"),
                                          ("name:fay", "fay", 90))
    assert count == 0 and 40 <= left <= 45
    assert await store.get("acct:fay") is None
    assert await store.get("name:fay") is None
    await store.delete("block:ip")
    assert await store.incr_unless("acct:fay", 30, ("block:acct", "block:ip")) == (1, 0)


async def test_incr_unless_is_atomic_under_concurrency(store: Store) -> None:
    results = await asyncio.gather(*(store.incr_unless("acct:gus", 60, ("block:gus",))
                                     for _ in range(50)))
    assert sorted(count for count, _ in results) == list(range(1, 51))


async def test_set_add_members_remove(store: Store) -> None:
    await store.set_add("sids:carol", "s1", ttl=60)
    await store.set_add("sids:carol", "s2", ttl=60)
    await store.set_add("sids:carol", "s1", ttl=60)
    assert await store.set_members("sids:carol") == {"s1", "s2"}
    await store.set_remove("sids:carol", "s1")
    assert await store.set_members("sids:carol") == {"s2"}
    await store.set_remove("sids:carol", "not-a-member")
    assert await store.set_members("sids:carol") == {"s2"}


async def test_set_members_of_missing_set_is_empty(store: Store) -> None:
    assert await store.set_members("sids:nobody") == set()
    await store.set_remove("sids:nobody", "s1")  # removing from nothing is not an error
    assert await store.set_members("sids:nobody") == set()


async def test_set_add_restarts_ttl(store: Store) -> None:
    await store.set_add("sids:dave", "s1", ttl=30)
    await store.set_add("sids:dave", "s2", ttl=300)
    left = await store.ttl("sids:dave")
    assert left is not None and 298 <= left <= 300


async def test_emptied_set_is_gone(store: Store) -> None:
    """Redis drops an empty set; the memory store must not keep listing it."""
    await store.set_add("sids:erin", "s1", ttl=60)
    await store.set_remove("sids:erin", "s1")
    assert await store.set_members("sids:erin") == set()
    assert await store.keys("sids:erin") == []
    assert await store.ttl("sids:erin") is None


async def test_keys_by_prefix(store: Store) -> None:
    await store.put("sess:a", "1", ttl=60)
    await store.put("sess:b", "2", ttl=60)
    await store.set_add("sess-index:x", "a", ttl=60)
    await store.put("code:c", "3", ttl=60)
    assert await store.keys("sess:") == ["sess:a", "sess:b"]
    assert await store.keys("sess") == ["sess-index:x", "sess:a", "sess:b"]
    assert await store.keys("nope:") == []


async def test_keys_prefix_is_literal_not_a_pattern(store: Store) -> None:
    """Usernames end up in keys; `*`, `?` and `[` in them must not widen an admin listing."""
    await store.put("u:a*b:1", "x", ttl=60)
    await store.put("u:axb:1", "x", ttl=60)
    await store.put("u:a?c:1", "x", ttl=60)
    await store.put("u:[ab]:1", "x", ttl=60)
    await store.put("u:a:1", "x", ttl=60)
    await store.put("u:b\\c:1", "x", ttl=60)
    assert await store.keys("u:a*") == ["u:a*b:1"]
    assert await store.keys("u:a?") == ["u:a?c:1"]
    assert await store.keys("u:[ab]") == ["u:[ab]:1"]
    assert await store.keys("u:b\\") == ["u:b\\c:1"]


async def test_keys_after_delete_and_take(store: Store) -> None:
    await store.put("k:1", "a", ttl=60)
    await store.put("k:2", "b", ttl=60)
    await store.take("k:1")
    await store.delete("k:2")
    assert await store.keys("k:") == []


async def test_everything_expires(store: Store) -> None:
    """One sleep covers every way a key can get a TTL: put, add, incr and set_add."""
    await store.put("exp:put", "v", ttl=1)
    assert await store.add("exp:add", "v", ttl=1) is True
    assert await store.incr("exp:incr", ttl=1) == 1
    await store.set_add("exp:set", "m", ttl=1)
    await store.put("exp:long", "stays", ttl=60)
    assert await store.get("exp:put") == "v"

    await asyncio.sleep(1.2)

    assert await store.get("exp:put") is None
    assert await store.ttl("exp:put") is None
    assert await store.take("exp:put") is None
    assert await store.get("exp:add") is None
    assert await store.set_members("exp:set") == set()
    assert await store.keys("exp:") == ["exp:long"]
    assert await store.delete("exp:put", "exp:add") == 0
    # an expired key is absent: add succeeds again and a counter restarts at one
    assert await store.add("exp:add", "again", ttl=60) is True
    assert await store.incr("exp:incr", ttl=60) == 1

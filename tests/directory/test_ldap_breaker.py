"""The per-server circuit breaker's rules, on a clock the test moves (the breaker takes its clock
as an argument; nothing else is stood in for). tests/directory/test_ldap_failover.py shows the
same rules on real sockets: a server that accepts and never answers, ahead of a real slapd."""

from __future__ import annotations

from directory.ldap_breaker import Breakers

A, B, C = "ldap://a", "ldap://b", "ldap://c"
SLOW, FAST = 3.0, 0.001  # seconds a failure took: a timeout, a refusal


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breakers(clock: Clock, cooldown: float = 30.0) -> Breakers:
    return Breakers([A, B, C], cooldown, slow_after=1.0, clock=clock)


def test_every_server_in_order_while_none_failed() -> None:
    plan = breakers(Clock()).plan()
    assert plan.urls == [A, B, C] and plan.probe is None


def test_a_server_that_timed_out_is_passed_over_until_its_cooldown_ends() -> None:
    clock = Clock()
    b = breakers(clock)
    b.failed(b.plan(), A, SLOW)
    assert b.plan().urls == [B, C]
    clock.now += 29.9
    assert b.plan().urls == [B, C]
    assert b.state()[A] == "open"
    assert 0 < b.next_probe_in() <= 0.1


def test_one_probe_at_a_time_in_its_place_then_closed_by_success() -> None:
    clock = Clock()
    b = breakers(clock)
    b.failed(b.plan(), A, SLOW)
    clock.now += 30
    probe = b.plan()
    assert probe.urls == [A, B, C] and probe.probe == A  # first, where the operator put it
    assert b.state()[A] == "half-open"
    # everybody else meanwhile: passed over, however many ask
    assert all(b.plan().urls == [B, C] for _ in range(10))
    b.succeeded(probe, A)
    assert b.state()[A] == "closed"
    assert b.plan().urls == [A, B, C]


def test_a_failed_probe_opens_it_for_another_cooldown() -> None:
    clock = Clock()
    b = breakers(clock)
    b.failed(b.plan(), A, SLOW)
    clock.now += 30
    probe = b.plan()
    b.failed(probe, A, SLOW)
    assert b.state()[A] == "open"
    assert b.plan().urls == [B, C]
    clock.now += 30
    assert b.plan().probe == A


def test_a_probe_never_tried_is_released_for_the_next_caller() -> None:
    """A probe of B is reserved, but A answered first: B is free to be probed by the next one."""
    clock = Clock()
    b = breakers(clock)
    b.failed(b.plan(), B, SLOW)
    clock.now += 30
    first = b.plan()
    assert first.probe == B
    b.succeeded(first, A)
    b.release(first)
    assert b.plan().probe == B


def test_servers_that_refused_are_still_tried_last() -> None:
    """A refusal costs nothing: when no working server is left they are tried anyway, so a
    restarted server is found by the very next request, not after a cooldown."""
    clock = Clock()
    b = breakers(clock)
    b.failed(b.plan(), A, FAST)
    assert b.plan().urls == [B, C, A]
    b.failed(b.plan(), B, FAST)
    b.failed(b.plan(), C, FAST)
    assert b.plan().urls == [A, B, C]


def test_when_every_server_timed_out_callers_fail_at_once() -> None:
    clock = Clock()
    b = breakers(clock)
    for url in (A, B, C):
        b.failed(b.plan(), url, SLOW)
    assert b.plan().urls == []
    clock.now += 30
    assert b.plan().urls == [A]  # one probe; the others wait for theirs


def test_a_server_that_answers_closes_again_after_refusals() -> None:
    b = breakers(Clock())
    plan = b.plan()
    b.failed(plan, A, FAST)
    b.succeeded(b.plan(), A)
    assert b.state() == {A: "closed", B: "closed", C: "closed"}


def test_no_cooldown_means_always_every_server_in_order() -> None:
    b = breakers(Clock(), cooldown=0)
    b.failed(b.plan(), A, SLOW)
    assert b.plan().urls == [A, B, C]

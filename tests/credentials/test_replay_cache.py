"""MemoryReplayCache: atomic seen-or-add, TTL, bound, thread safety."""

from __future__ import annotations

import threading

import pytest

from server.credentials.verifier import MemoryReplayCache, ReplayCache


def test_satisfies_the_protocol() -> None:
    assert isinstance(MemoryReplayCache(), ReplayCache)


def test_seen_or_add() -> None:
    cache = MemoryReplayCache(max_entries=10)
    assert cache.seen_or_add(1, 1, 100, now=0) is False
    assert cache.seen_or_add(1, 1, 100, now=50) is True
    assert cache.seen_or_add(1, 2, 100, now=50) is False
    assert cache.seen_or_add(2, 1, 100, now=50) is False
    assert len(cache) == 3
    assert (1, 2) in cache


def test_entry_lives_until_expires_at_inclusive() -> None:
    cache = MemoryReplayCache(max_entries=10)
    cache.seen_or_add(1, 1, 100, now=0)
    assert cache.seen_or_add(1, 1, 100, now=100) is True
    assert cache.seen_or_add(1, 1, 200, now=101) is False  # expired record was dropped
    assert len(cache) == 1


def test_without_now_nothing_expires() -> None:
    cache = MemoryReplayCache(max_entries=10)
    cache.seen_or_add(1, 1, 100)
    assert cache.seen_or_add(1, 1, 100) is True


def test_purge() -> None:
    cache = MemoryReplayCache(max_entries=10)
    for n in range(5):
        cache.seen_or_add(n, 0, 100 + n, now=0)
    assert cache.purge(102) == 2
    assert len(cache) == 3


def test_bound_evicts_expired_first() -> None:
    cache = MemoryReplayCache(max_entries=3)
    cache.seen_or_add(1, 0, 10, now=0)
    cache.seen_or_add(2, 0, 500, now=0)
    cache.seen_or_add(3, 0, 400, now=0)
    assert cache.seen_or_add(4, 0, 600, now=50) is False  # (1, 0) expired at 10 and goes
    assert len(cache) == 3
    assert cache.evicted_live == 0
    assert (1, 0) not in cache
    assert {(2, 0), (3, 0), (4, 0)} == {k for k in [(2, 0), (3, 0), (4, 0)] if k in cache}


def test_bound_then_evicts_the_live_entry_closest_to_expiry() -> None:
    cache = MemoryReplayCache(max_entries=3)
    cache.seen_or_add(1, 0, 500, now=0)
    cache.seen_or_add(2, 0, 300, now=0)
    cache.seen_or_add(3, 0, 400, now=0)
    cache.seen_or_add(4, 0, 600, now=0)
    assert len(cache) == 3
    assert cache.evicted_live == 1
    assert (2, 0) not in cache
    assert all(k in cache for k in [(1, 0), (3, 0), (4, 0)])


def test_never_exceeds_bound() -> None:
    cache = MemoryReplayCache(max_entries=100)
    for n in range(1000):
        cache.seen_or_add(n, n, 10_000 + (n * 7919) % 1000, now=0)
        assert len(cache) <= 100
    assert cache.evicted_live == 900
    assert len(cache._heap) == len(cache)  # no stale heap growth


def test_rejects_zero_size() -> None:
    with pytest.raises(ValueError):
        MemoryReplayCache(max_entries=0)


def test_thread_safe_exactly_one_winner_per_key() -> None:
    cache = MemoryReplayCache(max_entries=10_000)
    firsts: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        mine = 0
        for n in range(2000):
            if not cache.seen_or_add(n, 0, 1_000, now=0):
                mine += 1
        with lock:
            firsts.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(firsts) == 2000
    assert len(cache) == 2000

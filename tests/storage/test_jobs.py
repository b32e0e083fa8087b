from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from cartwise import storage
from cartwise.errors import InvalidRequest

SHOP = "s.example"


def test_enqueue_returns_distinct_ids_and_claim_hands_the_job_out(db: storage.Store) -> None:
    first = db.jobs.enqueue("rebuild", SHOP, {"reason": "orders", "n": 3})
    second = db.jobs.enqueue("sync", "other.example")
    assert first is not None and second is not None
    assert first != second
    assert db.jobs.counts() == {"queued": 2}
    jobs = db.jobs.claim(limit=10)
    assert [(j.id, j.kind, j.shop, j.payload, j.attempts) for j in jobs] == [
        (first, "rebuild", SHOP, {"reason": "orders", "n": 3}, 1),
        (second, "sync", "other.example", {}, 1),
    ]
    assert db.jobs.counts() == {"running": 2}


def test_a_dedupe_key_collapses_queued_duplicates_only(db: storage.Store) -> None:
    key = f"rebuild:{SHOP}"
    first = db.jobs.enqueue("rebuild", SHOP, dedupe_key=key)
    assert first is not None
    assert db.jobs.enqueue("rebuild", SHOP, dedupe_key=key) is None
    assert db.jobs.enqueue("rebuild", SHOP, {"other": True}, dedupe_key=key) is None
    assert db.jobs.enqueue("rebuild", SHOP, dedupe_key="rebuild:another") is not None
    assert db.jobs.enqueue("rebuild", SHOP) is not None
    assert db.jobs.counts() == {"queued": 3}

    [claimed] = [j for j in db.jobs.claim(limit=10) if j.id == first]
    # The running job no longer holds the key: a change made now needs a new run.
    second = db.jobs.enqueue("rebuild", SHOP, dedupe_key=key)
    assert second is not None
    assert second != claimed.id
    assert db.jobs.enqueue("rebuild", SHOP, dedupe_key=key) is None


def test_claim_takes_the_oldest_due_jobs_first(db: storage.Store) -> None:
    now = datetime.now(UTC)
    two_hours = db.jobs.enqueue("k", SHOP, {"n": 2}, run_after=now - timedelta(hours=2))
    one_hour = db.jobs.enqueue("k", SHOP, {"n": 1}, run_after=now - timedelta(hours=1))
    three_hours = db.jobs.enqueue("k", SHOP, {"n": 3}, run_after=now - timedelta(hours=3))
    future = db.jobs.enqueue("k", SHOP, {"n": -1}, run_after=now + timedelta(hours=1))
    assert None not in (two_hours, one_hour, three_hours, future)

    assert [j.id for j in db.jobs.claim(limit=2)] == [three_hours, two_hours]
    assert [j.id for j in db.jobs.claim(limit=2)] == [one_hour]
    assert db.jobs.claim(limit=2) == []
    assert db.jobs.counts() == {"running": 3, "queued": 1}


def test_run_after_in_another_time_zone_is_compared_as_an_instant(db: storage.Store) -> None:
    # Local clock reading ahead of UTC, instant in the past: due.
    ahead = timezone(timedelta(hours=10))
    due = db.jobs.enqueue("k", SHOP, run_after=datetime.now(ahead) - timedelta(minutes=1))
    # Local clock reading behind UTC, instant in the future: not due.
    behind = timezone(timedelta(hours=-10))
    later = db.jobs.enqueue("k", SHOP, run_after=datetime.now(behind) + timedelta(minutes=5))
    assert later is not None
    assert [j.id for j in db.jobs.claim()] == [due]


def test_a_claimed_job_is_not_claimed_again_while_its_lease_runs(db: storage.Store) -> None:
    job_id = db.jobs.enqueue("k", SHOP)
    [job] = db.jobs.claim(lease=timedelta(minutes=5))
    assert job.id == job_id
    assert db.jobs.claim() == []


def test_an_expired_lease_is_claimed_again_with_one_more_attempt(db: storage.Store) -> None:
    job_id = db.jobs.enqueue("k", SHOP, {"x": 1})
    [first] = db.jobs.claim(lease=timedelta(seconds=-1))
    [second] = db.jobs.claim(lease=timedelta(seconds=-1))
    [third] = db.jobs.claim(lease=timedelta(minutes=5))
    assert first.id == second.id == third.id == job_id
    assert (first.attempts, second.attempts, third.attempts) == (1, 2, 3)
    assert third.payload == {"x": 1}
    assert db.jobs.claim() == []
    assert db.jobs.counts() == {"running": 1}


def test_finish_retry_and_fail_move_jobs_between_statuses(db: storage.Store) -> None:
    done, retried, failed, later = (db.jobs.enqueue("k", SHOP, {"i": i}) for i in range(4))
    assert [j.id for j in db.jobs.claim(limit=10)] == [done, retried, failed, later]
    assert done is not None and retried is not None and failed is not None and later is not None
    db.jobs.finish(done)
    db.jobs.retry(retried, "timeout" * 1000, at=datetime.now(UTC) - timedelta(seconds=1))
    db.jobs.fail(failed, "boom")
    db.jobs.retry(later, "busy", at=datetime.now(UTC) + timedelta(hours=1))
    assert db.jobs.counts() == {"done": 1, "queued": 2, "failed": 1}
    assert db.jobs.counts(SHOP) == {"done": 1, "queued": 2, "failed": 1}
    assert db.jobs.counts("other.example") == {}

    # Only the retry that is due comes back, its attempts counted on.
    [again] = db.jobs.claim(limit=10)
    assert (again.id, again.attempts, again.payload) == (retried, 2, {"i": 1})
    db.jobs.finish(again.id)
    assert db.jobs.counts() == {"done": 2, "queued": 1, "failed": 1}
    assert db.jobs.claim(limit=10) == []


def test_finish_many_finishes_exactly_the_batch(db: storage.Store) -> None:
    ids = [db.jobs.enqueue("k", SHOP, {"i": i}) for i in range(4)]
    claimed = db.jobs.claim(limit=10)
    assert len(claimed) == 4
    db.jobs.finish_many([j for j in ids[:3] if j is not None])
    db.jobs.finish_many([])
    assert db.jobs.counts() == {"done": 3, "running": 1}


def test_purge_finished_deletes_only_done_jobs_finished_before(db: storage.Store) -> None:
    ids = [db.jobs.enqueue("k", SHOP) for _ in range(3)]
    db.jobs.enqueue("k", SHOP)
    db.jobs.claim(limit=3)
    done_a, done_b, failed = ids
    assert done_a is not None and done_b is not None and failed is not None
    db.jobs.finish(done_a)
    db.jobs.finish(done_b)
    db.jobs.fail(failed, "gave up")
    assert db.jobs.purge_finished(datetime.now(UTC) - timedelta(hours=1)) == 0
    assert db.jobs.purge_finished(datetime.now(UTC) + timedelta(seconds=1)) == 2
    assert db.jobs.counts() == {"failed": 1, "queued": 1}
    assert db.jobs.purge_finished(datetime.now(UTC) + timedelta(seconds=1)) == 0


def test_delete_for_shop_leaves_other_shops_jobs(db: storage.Store) -> None:
    db.jobs.enqueue("k", SHOP)
    db.jobs.enqueue("k", SHOP, dedupe_key="k:s")
    db.jobs.claim(limit=1)
    kept = db.jobs.enqueue("k", "other.example")
    assert db.jobs.delete_for_shop(SHOP) == 2
    assert db.jobs.counts(SHOP) == {}
    assert db.jobs.delete_for_shop(SHOP) == 0
    assert [j.id for j in db.jobs.claim()] == [kept]
    # The deleted queued job's key is free again.
    assert db.jobs.enqueue("k", SHOP, dedupe_key="k:s") is not None


def test_jobs_enqueued_in_a_rolled_back_transaction_are_gone(db: storage.Store) -> None:
    with pytest.raises(RuntimeError), db.transaction() as tx:
        assert tx.jobs.enqueue("k", SHOP, dedupe_key="k:s") is not None
        raise RuntimeError("abort")
    assert db.jobs.counts() == {}
    assert db.jobs.enqueue("k", SHOP, dedupe_key="k:s") is not None


def test_bad_arguments_are_invalid_requests(db: storage.Store) -> None:
    with pytest.raises(InvalidRequest):
        db.jobs.enqueue("", SHOP)
    with pytest.raises(InvalidRequest):
        db.jobs.claim(limit=0)


def test_concurrent_workers_never_claim_the_same_job(db: storage.Store) -> None:
    with db.transaction() as tx:
        queued = {tx.jobs.enqueue("k", SHOP, {"i": i}) for i in range(200)}
    assert None not in queued and len(queued) == 200
    workers = 2
    start = threading.Barrier(workers)
    claimed: list[list[int]] = [[] for _ in range(workers)]
    attempts: list[int] = []
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            start.wait()
            while batch := db.jobs.claim(limit=7):
                claimed[n].extend(j.id for j in batch)
                attempts.extend(j.attempts for j in batch)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    first, second = (set(ids) for ids in claimed)
    assert len(first) == len(claimed[0]) and len(second) == len(claimed[1])
    assert first & second == set()
    assert first | second == queued
    assert set(attempts) == {1}
    assert db.jobs.counts() == {"running": 200}

"""`Pause`: standing aside from a failing Redis, longer with each failure, reset by an answer."""

from __future__ import annotations

from cartwise.cache.pause import Pause


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_pause_doubles_up_to_its_bound_and_an_answer_resets_it() -> None:
    clock = Clock()
    pause = Pause(1.0, 4.0, clock=clock)
    assert not pause.waiting
    assert pause.answered() is False  # nothing to end

    waits = []
    for n in range(4):
        assert pause.failed() is (n == 0)  # only the first failure opens the outage
        start = clock.now
        while pause.waiting:
            clock.now += 0.25
        waits.append(clock.now - start)
    assert waits == [1.0, 2.0, 4.0, 4.0]

    assert pause.answered() is True
    assert pause.answered() is False
    assert pause.failed() is True
    assert pause.waiting
    clock.now += 1.0
    assert not pause.waiting  # back to the first pause

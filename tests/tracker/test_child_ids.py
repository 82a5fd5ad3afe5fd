"""Generated ids: ObjectId-shaped and time-ordered (index locality), yet not guessable from the last one."""

from __future__ import annotations

import itertools
import time

from tracker.services import new_child_id


def test_child_ids_start_with_their_creation_time_and_the_rest_cannot_be_guessed():
    before = int(time.time())
    ids = [new_child_id() for _ in range(10_000)]
    after = int(time.time())
    assert all(len(i) == 24 and int(i, 16) >= 0 for i in ids) and len(set(ids)) == len(ids)
    assert all(before <= int(i[:8], 16) <= after for i in ids)
    tails = [int(i[8:], 16) for i in ids]
    # a counter would make each id the last one plus one; random tails almost never are
    assert sum(1 for a, b in itertools.pairwise(tails) if b - a == 1) == 0
    assert len({i[8:18] for i in ids}) > 9_000  # no shared per-process prefix to learn from one id

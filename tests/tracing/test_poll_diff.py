"""Sweep and diff as pure functions: no database, no EMIS."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from tracing.poller.diff import (
    ListedSession,
    SeenSlot,
    SnapSession,
    SnapSlot,
    diff_slots,
    plan_sessions,
    session_signature,
    sessions_to_settle,
)

LONDON = ZoneInfo("Europe/London")
DAY = date(2026, 12, 7)


def at(minutes: int, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=LONDON) + timedelta(minutes=minutes)


def seen(slot: int, patient: int, *, session: int = 1, minutes: int | None = None, status="Booked"):
    start = at(10 * slot if minutes is None else minutes)
    return SeenSlot(slot, session, start, start + timedelta(minutes=10), status, patient)


def snap(slot: int, patient: int, *, session: int = 1, task: int | None = None, minutes=None):
    start = at(10 * slot if minutes is None else minutes)
    return SnapSlot(
        slot, session, start, start + timedelta(minutes=10), "Booked", patient, task or slot * 100
    )


# --- sessions ---------------------------------------------------------------------------


def signature(booked: int) -> str:
    return session_signature(
        start=at(0), end=at(180), counts=[("3", 18, booked, 0, 0, 18 - booked)]
    )


def test_signature_changes_with_the_counts_and_times_only():
    assert signature(5) == signature(5)
    assert signature(5) != signature(6)
    later = session_signature(start=at(30), end=at(180), counts=[("3", 18, 5, 0, 0, 13)])
    assert later != signature(5)
    # The order slot types come in does not matter.
    two = [("3", 10, 1, 0, 0, 9), ("4", 8, 2, 0, 0, 6)]
    assert session_signature(start=at(0), end=at(9), counts=two) == session_signature(
        start=at(0), end=at(9), counts=list(reversed(two))
    )


def test_only_new_and_changed_sessions_are_read():
    listed = [
        ListedSession(1, DAY, signature(5)),  # unchanged
        ListedSession(2, DAY, signature(6)),  # counts changed
        ListedSession(3, DAY, signature(0)),  # new: entering the window
    ]
    snapshot = {1: SnapSession(1, DAY, signature(5)), 2: SnapSession(2, DAY, signature(5))}
    plan = plan_sessions(listed=listed, snapshot=snapshot, window_start=DAY, full_sweep=False)
    assert plan.to_fetch == (2, 3)
    assert plan.unchanged == 1
    assert plan.gone == () and plan.expired == ()


def test_an_unchanged_pcn_reads_no_session():
    listed = [ListedSession(i, DAY, signature(i)) for i in range(1, 50)]
    snapshot = {i: SnapSession(i, DAY, signature(i)) for i in range(1, 50)}
    plan = plan_sessions(listed=listed, snapshot=snapshot, window_start=DAY, full_sweep=False)
    assert plan.to_fetch == () and plan.unchanged == 49


def test_a_full_sweep_reads_every_session():
    listed = [ListedSession(i, DAY, signature(i)) for i in range(1, 5)]
    snapshot = {i: SnapSession(i, DAY, signature(i)) for i in range(1, 5)}
    plan = plan_sessions(listed=listed, snapshot=snapshot, window_start=DAY, full_sweep=True)
    assert plan.to_fetch == (1, 2, 3, 4)


def test_a_deleted_session_is_gone_but_a_past_one_only_aged_out():
    yesterday = DAY - timedelta(days=1)
    snapshot = {
        1: SnapSession(1, DAY, signature(1)),
        2: SnapSession(2, DAY + timedelta(days=3), signature(1)),
        3: SnapSession(3, yesterday, signature(1)),
    }
    plan = plan_sessions(
        listed=[ListedSession(1, DAY, signature(1))],
        snapshot=snapshot,
        window_start=DAY,
        full_sweep=False,
    )
    assert plan.gone == (2,)
    assert plan.expired == (3,)


# --- slots ------------------------------------------------------------------------------


def test_a_patient_in_a_slot_that_was_free_is_a_new_appointment():
    diff = diff_slots(snapshot=[], seen=[seen(1, 501), seen(2, 502)], read_sessions=[1])
    assert [s.patient_number for s in diff.appeared] == [501, 502]
    assert diff.departed == [] and diff.moved == []


def test_a_patient_who_left_their_slot_is_a_cancellation():
    diff = diff_slots(snapshot=[snap(1, 501), snap(2, 502)], seen=[seen(2, 502)], read_sessions=[1])
    assert [(s.slot_id, s.task_id) for s in diff.departed] == [(1, 100)]
    assert diff.appeared == [] and diff.moved == []
    assert [m.old.task_id for m in diff.kept] == [200]


def test_a_patient_in_another_slot_in_the_same_sweep_moved():
    diff = diff_slots(
        snapshot=[snap(1, 501, session=1)],
        seen=[seen(7, 501, session=2)],
        read_sessions=[1, 2],
    )
    assert diff.appeared == [] and diff.departed == []
    [move] = diff.moved
    assert (move.old.slot_id, move.new.slot_id, move.old.task_id) == (1, 7, 100)


def test_a_swapped_patient_is_one_cancellation_and_one_new_appointment():
    diff = diff_slots(snapshot=[snap(1, 501)], seen=[seen(1, 999)], read_sessions=[1])
    assert [s.patient_number for s in diff.departed] == [501]
    assert [s.patient_number for s in diff.appeared] == [999]
    assert diff.moved == []


def test_two_patients_trading_slots_both_moved():
    diff = diff_slots(
        snapshot=[snap(1, 501), snap(2, 502)],
        seen=[seen(1, 502), seen(2, 501)],
        read_sessions=[1],
    )
    assert sorted((m.old.task_id, m.new.slot_id) for m in diff.moved) == [(100, 2), (200, 1)]
    assert diff.appeared == [] and diff.departed == []


def test_the_same_slot_at_another_time_is_a_move():
    diff = diff_slots(snapshot=[snap(1, 501)], seen=[seen(1, 501, minutes=95)], read_sessions=[1])
    [move] = diff.moved
    assert move.new.start == at(95)


def test_only_a_status_change_is_not_a_move():
    diff = diff_slots(
        snapshot=[snap(1, 501)], seen=[seen(1, 501, status="Arrived")], read_sessions=[1]
    )
    assert diff.moved == [] and diff.departed == [] and diff.appeared == []
    assert [m.new.status for m in diff.restatused] == ["Arrived"]
    assert diff.changes == 1


def test_every_patient_of_a_deleted_session_is_cancelled():
    diff = diff_slots(
        snapshot=[snap(1, 501, session=4), snap(2, 502, session=4), snap(3, 503, session=5)],
        seen=[],
        read_sessions=[],
        gone_sessions=[4],
    )
    assert sorted(s.patient_number for s in diff.departed) == [501, 502]


def test_a_move_out_of_a_deleted_session_is_still_a_move():
    diff = diff_slots(
        snapshot=[snap(1, 501, session=4)],
        seen=[seen(9, 501, session=6)],
        read_sessions=[6],
        gone_sessions=[4],
    )
    assert [m.old.slot_id for m in diff.moved] == [1] and diff.departed == []


def test_sessions_not_read_are_not_compared():
    # Session 2 was not read this sweep: its patient is neither gone nor moved.
    diff = diff_slots(
        snapshot=[snap(1, 501, session=1), snap(5, 505, session=2)],
        seen=[seen(1, 501, session=1)],
        read_sessions=[1],
    )
    assert diff.changes == 0
    assert len(diff.kept) == 1


def test_several_bookings_of_one_patient_pair_up_in_time_order():
    diff = diff_slots(
        snapshot=[snap(1, 501), snap(3, 501)],
        seen=[seen(2, 501), seen(4, 501), seen(6, 501)],
        read_sessions=[1],
    )
    assert sorted((m.old.slot_id, m.new.slot_id) for m in diff.moved) == [(1, 2), (3, 4)]
    assert [s.slot_id for s in diff.appeared] == [6]


def test_a_session_entering_the_window_brings_its_bookings():
    listed = [ListedSession(1, DAY, signature(1)), ListedSession(2, DAY + timedelta(42), "x")]
    plan = plan_sessions(
        listed=listed,
        snapshot={1: SnapSession(1, DAY, signature(1))},
        window_start=DAY,
        full_sweep=False,
    )
    assert plan.to_fetch == (2,)
    diff = diff_slots(
        snapshot=[snap(1, 501, session=1)],
        seen=[seen(40, 777, session=2)],
        read_sessions=plan.to_fetch,
    )
    assert [s.patient_number for s in diff.appeared] == [777]


def test_an_appearance_of_a_known_patient_asks_to_read_their_other_session():
    snapshot = [snap(1, 501, session=1), snap(2, 502, session=3)]
    settle = sessions_to_settle(
        appeared=[seen(9, 501, session=2)],
        snapshot=snapshot,
        read_sessions=[2],
        listed_sessions=[1, 2, 3],
    )
    assert settle == {1}
    # Nothing to settle for a patient the snapshot does not hold, or whose session
    # was read already or is no longer listed.
    assert (
        sessions_to_settle(
            appeared=[seen(9, 777, session=2)],
            snapshot=snapshot,
            read_sessions=[2],
            listed_sessions=[1, 2, 3],
        )
        == set()
    )
    assert (
        sessions_to_settle(
            appeared=[seen(9, 501, session=2)],
            snapshot=snapshot,
            read_sessions=[1, 2],
            listed_sessions=[1, 2, 3],
        )
        == set()
    )


def test_only_sessions_with_a_change_are_touched():
    diff = diff_slots(
        snapshot=[snap(1, 501, session=1), snap(2, 502, session=2), snap(3, 503, session=3)],
        seen=[
            seen(1, 501, session=1),  # kept
            seen(7, 502, session=4),  # moved from session 2 to 4
            seen(8, 777, session=5),  # new
        ],
        read_sessions=[1, 2, 3, 4, 5],
    )
    # Session 3's patient left (cancelled): touched too; session 1 is not.
    assert diff.touched_sessions() == {2, 3, 4, 5}
    assert (
        diff_slots(
            snapshot=[snap(1, 501)], seen=[seen(1, 501)], read_sessions=[1]
        ).touched_sessions()
        == set()
    )

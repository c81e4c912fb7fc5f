"""The run lifecycle alone (demo/lifecycle.py): every legal path, every refusal, no model."""

import copy
import threading
import time

import pytest

from demo.lifecycle import (BUSY, LIVE, TRANSITIONS, Lifecycle, LifecycleError, RunState, SessionBusy)

S = RunState


def at(state: RunState, pressed: bool = False) -> Lifecycle:
    lifecycle = Lifecycle(state)
    if pressed:
        lifecycle._pressed_at = time.perf_counter()
    return lifecycle


def test_a_pressed_run_waits_reads_runs_and_ends():
    lifecycle = Lifecycle()
    assert lifecycle.state is S.IDLE and not lifecycle.is_busy
    lifecycle.press()
    assert lifecycle.state is S.WAITING and not lifecycle.is_busy and lifecycle.pressed_at is not None
    clicked = lifecycle.pressed_at
    assert lifecycle.begin_run() == clicked and lifecycle.pressed_at is None      # the clock starts at the press
    assert lifecycle.state is S.READING and lifecycle.is_live and not lifecycle.should_stop
    lifecycle.prompt_read()
    assert lifecycle.state is S.RUNNING
    lifecycle.end_run()
    assert lifecycle.state is S.IDLE


def test_a_run_without_a_press_starts_its_clock_when_it_begins():
    lifecycle = Lifecycle()
    before = time.perf_counter()
    assert lifecycle.begin_run() >= before and lifecycle.state is S.READING


def test_an_old_press_does_not_start_the_clock():
    lifecycle = Lifecycle()
    lifecycle.press()
    lifecycle._pressed_at -= 7200
    assert time.perf_counter() - lifecycle.begin_run() < 60


def test_stop_while_waiting_cancels_and_the_run_does_not_start():
    lifecycle = Lifecycle()
    lifecycle.press()
    assert lifecycle.stop() is S.WAITING and lifecycle.state is S.CANCELLED
    lifecycle.press()                                   # pressed again: the cancelled run still comes first
    assert lifecycle.state is S.CANCELLED
    assert lifecycle.begin_run() is None and lifecycle.state is S.IDLE
    assert lifecycle.begin_run() is not None and lifecycle.state is S.READING   # the next one runs


@pytest.mark.parametrize("state", [S.READING, S.RUNNING, S.STOPPING])
def test_stop_during_a_run_ends_it_at_the_next_check(state):
    lifecycle = at(state)
    assert lifecycle.stop() is state and lifecycle.state is S.STOPPING and lifecycle.should_stop
    lifecycle.prompt_read()                             # a Stop while reading the prompt holds
    assert lifecycle.state is S.STOPPING
    lifecycle.end_run()
    assert lifecycle.state is S.IDLE


def test_stop_with_nothing_running_changes_nothing():
    lifecycle = Lifecycle()
    assert lifecycle.stop() is S.IDLE and lifecycle.state is S.IDLE


def test_a_replay_plays_stops_and_ends():
    lifecycle = Lifecycle()
    lifecycle.begin_replay()
    assert lifecycle.state is S.REPLAYING and lifecycle.is_busy and not lifecycle.is_live
    assert lifecycle.stop() is S.REPLAYING and lifecycle.state is S.REPLAY_STOPPING
    assert lifecycle.should_stop and not lifecycle.preempted       # stopped: it still draws its last frame
    lifecycle.end_replay()
    assert lifecycle.state is S.IDLE


def test_a_press_during_a_replay_preempts_it_and_then_waits():
    lifecycle = at(S.REPLAYING)
    lifecycle.press()
    assert lifecycle.state is S.PREEMPTED and lifecycle.preempted and lifecycle.should_stop
    lifecycle.end_replay()
    assert lifecycle.state is S.WAITING


def test_a_replay_started_while_a_press_waits_leaves_it_waiting():
    lifecycle = Lifecycle()
    lifecycle.press()
    lifecycle.begin_replay()
    lifecycle.end_replay()
    assert lifecycle.state is S.WAITING and lifecycle.pressed_at is not None


@pytest.mark.parametrize("begin", ["begin_run", "begin_replay"])
def test_anything_new_ends_a_replay_in_progress_first(begin):
    lifecycle = at(S.REPLAYING)
    seen = []

    def replay_loop():          # the replay's thread: sees it should stop, ends
        while not lifecycle.should_stop:
            time.sleep(0.005)
        seen.append(lifecycle.state)
        lifecycle.end_replay()

    thread = threading.Thread(target=replay_loop)
    thread.start()
    getattr(lifecycle, begin)()
    thread.join()
    assert seen == [S.PREEMPTED]
    assert lifecycle.state is (S.READING if begin == "begin_run" else S.REPLAYING)


def test_a_replay_that_does_not_end_in_time_refuses_the_newcomer():
    lifecycle = at(S.REPLAYING)
    with pytest.raises(SessionBusy, match="press Stop first"):
        lifecycle.begin_run(wait=0.05)
    assert lifecycle.state is S.PREEMPTED


@pytest.mark.parametrize("state", sorted(LIVE, key=lambda s: s.name))
@pytest.mark.parametrize("begin", ["begin_run", "begin_replay"])
def test_a_live_run_refuses_another_run_or_replay(state, begin):
    lifecycle = at(state)
    with pytest.raises(SessionBusy, match="press Stop first"):
        getattr(lifecycle, begin)(wait=0.0)
    assert lifecycle.state is state


@pytest.mark.parametrize("state", sorted(LIVE, key=lambda s: s.name))
def test_a_press_during_a_live_run_is_refused(state):
    lifecycle = at(state)
    with pytest.raises(SessionBusy, match="press Stop first"):
        lifecycle.press()
    assert lifecycle.state is state and lifecycle.pressed_at is None


def test_a_cancelled_run_in_the_queue_refuses_a_replay():
    with pytest.raises(SessionBusy, match="stopped still holds its place"):
        at(S.CANCELLED).begin_replay()


@pytest.mark.parametrize("event, state", [
    ("end_run", S.IDLE), ("end_run", S.REPLAYING), ("end_run", S.WAITING),
    ("end_replay", S.IDLE), ("end_replay", S.RUNNING),
    ("prompt_read", S.IDLE), ("prompt_read", S.RUNNING), ("prompt_read", S.REPLAYING),
])
def test_illegal_transitions_raise_a_clear_error(event, state):
    lifecycle = at(state)
    with pytest.raises(LifecycleError, match=f"{event} is not allowed while the session is {state.value}"):
        getattr(lifecycle, event)()
    assert lifecycle.state is state


def test_every_state_is_reached_and_left():
    targets = set(TRANSITIONS.values())
    sources = {state for _, state in TRANSITIONS}
    assert targets == sources == set(RunState)
    assert BUSY == LIVE | {S.REPLAYING, S.REPLAY_STOPPING, S.PREEMPTED}


def test_withdraw_forgets_a_waiting_press():
    lifecycle = Lifecycle()
    lifecycle.press()
    lifecycle.withdraw()
    assert lifecycle.state is S.IDLE and lifecycle.pressed_at is None
    lifecycle.withdraw()                                # nothing waiting: nothing changes
    assert lifecycle.state is S.IDLE


def test_a_copied_lifecycle_is_independent():
    """gr.State deep-copies each new session's value: the lock is made anew, the state kept."""
    lifecycle = Lifecycle()
    lifecycle.press()
    copied = copy.deepcopy(lifecycle)
    assert copied.state is S.WAITING and copied.pressed_at == lifecycle.pressed_at
    copied.stop()
    assert copied.state is S.CANCELLED and lifecycle.state is S.WAITING

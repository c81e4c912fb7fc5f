"""A page's run lifecycle: what its session is doing, and every way that changes, in one place.

    IDLE ─press─▶ WAITING ─begin_run─▶ READING ─prompt_read─▶ RUNNING ─end_run─▶ IDLE
                    │ stop                │ stop                  │ stop
                    ▼                     └───────▶ STOPPING ◀────┘ ─end_run─▶ IDLE
                CANCELLED ─begin_run (the run is dropped)─▶ IDLE

    IDLE or WAITING ──begin_replay──▶ REPLAYING ──stop──▶ REPLAY_STOPPING ──end_replay──▶ IDLE or WAITING
    REPLAYING or REPLAY_STOPPING ──press, begin_run or begin_replay──▶ PREEMPTED ──end_replay──▶ IDLE or WAITING

A replay's end leaves the session WAITING when a Run press still waits for its slot, IDLE otherwise.

A session runs one thing at a time. Run pressed shows the lanes at once (outside the queue) and
the run itself comes later, when the queue gives it a slot: WAITING covers that gap, so Stop can
cancel a run that has not started. A replay gives way to anything new: it is PREEMPTED, draws
nothing more, and the newcomer waits (up to REPLAY_YIELD_SECONDS) for it to end. While a live run
holds the session (READING, RUNNING, STOPPING) a new run or replay is refused with `SessionBusy`.

Callbacks (demo/callbacks.py) call these methods and never set the state themselves. What a
visitor may try and be refused raises `SessionBusy`, with a message for them; any other
transition the table does not allow raises `LifecycleError`: a caller's bug.
The methods are called from the run's thread and from Stop's and Run-pressed's own requests
(outside the queue), so a lock guards the state. Nothing here imports gradio."""

import enum
import threading
import time

REPLAY_YIELD_SECONDS = 3.0   # a run or replay started during a replay waits this long at most for it to end
PRESS_EXPIRES = 3600.0       # seconds: an older press no longer starts a run's clock
BUSY_MESSAGE = "A run is in progress in this page: press Stop first."


class RunState(enum.Enum):
    IDLE = "idle"                           # nothing running, nothing pressed
    WAITING = "waiting for a slot"          # Run pressed; its run waits in the queue
    CANCELLED = "cancelled"                 # Stop pressed while waiting: the run will not start
    READING = "reading the prompt"          # the run has its slot: loading the model, reading the prompt
    RUNNING = "running"                     # the workers write, pass after pass
    STOPPING = "stopping"                   # Stop pressed during a run: it ends within one pass
    REPLAYING = "replaying"                 # a saved trace plays through the panels
    REPLAY_STOPPING = "stopping the replay"  # Stop pressed during a replay: it ends and draws its last frame
    PREEMPTED = "replay giving way"         # something new was started: the replay ends without a last frame


LIVE = frozenset({RunState.READING, RunState.RUNNING, RunState.STOPPING})
REPLAY = frozenset({RunState.REPLAYING, RunState.REPLAY_STOPPING, RunState.PREEMPTED})
BUSY = LIVE | REPLAY

# Every transition: (event, from) -> to. The methods below choose the event; this table alone
# says what it does from each state, and anything missing from it raises LifecycleError.
TRANSITIONS: dict[tuple[str, RunState], RunState] = {
    ("press", RunState.IDLE): RunState.WAITING,
    ("press", RunState.WAITING): RunState.WAITING,            # pressed again (Enter twice): the clock restarts
    ("press", RunState.CANCELLED): RunState.CANCELLED,        # the cancelled run still comes first, and is dropped
    ("press", RunState.REPLAYING): RunState.PREEMPTED,
    ("press", RunState.REPLAY_STOPPING): RunState.PREEMPTED,
    ("press", RunState.PREEMPTED): RunState.PREEMPTED,
    ("withdraw", RunState.WAITING): RunState.IDLE,
    ("begin_run", RunState.IDLE): RunState.READING,
    ("begin_run", RunState.WAITING): RunState.READING,
    ("drop", RunState.CANCELLED): RunState.IDLE,              # the cancelled run's slot came: nothing runs
    ("prompt_read", RunState.READING): RunState.RUNNING,
    ("prompt_read", RunState.STOPPING): RunState.STOPPING,
    ("stop", RunState.WAITING): RunState.CANCELLED,
    ("stop", RunState.CANCELLED): RunState.CANCELLED,
    ("stop", RunState.READING): RunState.STOPPING,
    ("stop", RunState.RUNNING): RunState.STOPPING,
    ("stop", RunState.STOPPING): RunState.STOPPING,
    ("stop", RunState.REPLAYING): RunState.REPLAY_STOPPING,
    ("stop", RunState.REPLAY_STOPPING): RunState.REPLAY_STOPPING,
    ("stop", RunState.PREEMPTED): RunState.PREEMPTED,
    ("end_run", RunState.READING): RunState.IDLE,
    ("end_run", RunState.RUNNING): RunState.IDLE,
    ("end_run", RunState.STOPPING): RunState.IDLE,
    ("begin_replay", RunState.IDLE): RunState.REPLAYING,
    ("begin_replay", RunState.WAITING): RunState.REPLAYING,   # the waiting run ends it when its slot comes
    ("preempt", RunState.REPLAYING): RunState.PREEMPTED,
    ("preempt", RunState.REPLAY_STOPPING): RunState.PREEMPTED,
    ("end_replay", RunState.REPLAYING): RunState.IDLE,
    ("end_replay", RunState.REPLAY_STOPPING): RunState.IDLE,
    ("end_replay", RunState.PREEMPTED): RunState.IDLE,
    ("end_replay_for_press", RunState.REPLAYING): RunState.WAITING,
    ("end_replay_for_press", RunState.REPLAY_STOPPING): RunState.WAITING,
    ("end_replay_for_press", RunState.PREEMPTED): RunState.WAITING,
}


class LifecycleError(RuntimeError):
    """A transition the lifecycle does not allow: a caller's bug."""


class SessionBusy(LifecycleError):
    """A run or replay asked for while something else holds the session; the message is for the visitor."""


class Lifecycle:
    """One session's state and the time of the Run press its next run answers (its clock starts there)."""

    def __init__(self, state: RunState = RunState.IDLE):
        self._state = state
        self._pressed_at: float | None = None    # perf_counter of the last Run press still waiting
        self._changed = threading.Condition()

    def __deepcopy__(self, memo) -> "Lifecycle":
        # gr.State deep-copies a new session's value; a lock cannot be copied, and need not be
        copied = Lifecycle(self._state)
        copied._pressed_at = self._pressed_at
        return copied

    def __repr__(self) -> str:
        return f"Lifecycle({self._state.name})"

    @property
    def state(self) -> RunState:
        return self._state

    @property
    def is_live(self) -> bool:
        """A live run holds the session (reading its prompt, running or stopping)."""
        return self._state in LIVE

    @property
    def is_busy(self) -> bool:
        """A live run or a replay holds the session."""
        return self._state in BUSY

    @property
    def should_stop(self) -> bool:
        """The loop in progress (run or replay) should end at its next check."""
        return self._state in (RunState.STOPPING, RunState.REPLAY_STOPPING, RunState.PREEMPTED)

    @property
    def preempted(self) -> bool:
        """The replay in progress gives way: it draws nothing more."""
        return self._state is RunState.PREEMPTED

    @property
    def pressed_at(self) -> float | None:
        return self._pressed_at

    def press(self) -> None:
        """Run pressed: the page shows the run's lanes now, its run comes with a queue slot. A replay
        in progress gives way. Raises SessionBusy during a live run (the page ignores the press)."""
        with self._changed:
            if self._state in LIVE:
                raise SessionBusy(BUSY_MESSAGE)
            self._move("press")
            self._pressed_at = time.perf_counter()

    def withdraw(self) -> None:
        """A run started by other means (a compare button) replaces a press still waiting: its
        clock starts when it begins, not at that press."""
        with self._changed:
            if self._state is RunState.WAITING:
                self._move("withdraw")
            self._pressed_at = None

    def stop(self) -> RunState:
        """Stop pressed: returns the state it left, so the caller can say what Stop did. IDLE stays IDLE."""
        with self._changed:
            before = self._state
            if before is not RunState.IDLE:
                self._move("stop")
            return before

    def begin_run(self, wait: float = REPLAY_YIELD_SECONDS) -> float | None:
        """A run's slot came. Returns when its clock starts (the press it answers, else now) with the
        session READING; None when Stop cancelled it while it waited (nothing runs, the session is
        IDLE). A replay in progress is ended first. Raises SessionBusy if something still holds the session."""
        with self._changed:
            self._end_replay_in_progress(wait)
            if self._state is RunState.CANCELLED:
                self._move("drop")
                self._pressed_at = None
                return None
            self._move("begin_run")
            pressed, self._pressed_at = self._pressed_at, None
            now = time.perf_counter()
            return pressed if pressed is not None and 0 <= now - pressed < PRESS_EXPIRES else now

    def prompt_read(self) -> None:
        """The engine read the prompt; the workers start writing (a Stop meanwhile still holds)."""
        with self._changed:
            self._move("prompt_read")

    def end_run(self) -> None:
        """The run ended, however (finished, stopped, failed, closed by its page)."""
        with self._changed:
            self._move("end_run")

    def begin_replay(self, wait: float = REPLAY_YIELD_SECONDS) -> None:
        """A replay starts; one in progress is ended first. Raises SessionBusy during a live run, or
        when a cancelled run still holds its place in the queue."""
        with self._changed:
            self._end_replay_in_progress(wait)
            if self._state is RunState.CANCELLED:
                raise SessionBusy("The run you stopped still holds its place in the queue: replay once it is dropped.")
            self._move("begin_replay")

    def end_replay(self) -> None:
        """The replay ended, however. A Run press still waiting for its slot leaves the session WAITING."""
        with self._changed:
            self._move("end_replay" if self._pressed_at is None else "end_replay_for_press")
            self._changed.notify_all()

    def _end_replay_in_progress(self, wait: float) -> None:
        """Preempt a replay in progress and wait for its loop to end (the lock is released meanwhile)."""
        if self._state in (RunState.REPLAYING, RunState.REPLAY_STOPPING):
            self._move("preempt")
        if self._state is RunState.PREEMPTED:
            self._changed.wait_for(lambda: self._state is not RunState.PREEMPTED, timeout=wait)
        if self._state in BUSY:
            raise SessionBusy(BUSY_MESSAGE)

    def _move(self, event: str) -> None:
        target = TRANSITIONS.get((event, self._state))
        if target is None:
            raise LifecycleError(f"{event} is not allowed while the session is {self._state.value}")
        self._state = target

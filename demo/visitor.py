"""A visitor who joins the workers: the lines they send during a live run, on their way to the engine.

A run started with "Join as a worker" has one external worker, named VISITOR_NAME, as its last
worker (hogwild_core: `EngineConfig.external_workers`, `HogwildEngine.write`). Send runs in a
request of its own, beside the run loop's thread, so it never touches the engine: it leaves the
line on the run's `VisitorDesk`, and the run loop hands the desk's lines to the engine between
two passes. Until the line is in the run's records, the lane shows it from the desk ("sent"), so
it appears at once and never flickers out. Nothing here imports gradio."""

import threading

VISITOR_NAME = "You"
MAX_VISITOR_CHARS = 2000


def text_problem(text) -> str | None:
    """Why a line cannot be sent, for the visitor; None if it can."""
    if not isinstance(text, str) or not text.strip():
        return "Type a line first: the box is empty."
    if len(text) > MAX_VISITOR_CHARS:
        return f"Your line is {len(text)} characters long; a line takes at most {MAX_VISITOR_CHARS}."
    return None


class VisitorDesk:
    """One live run's visitor lane: its worker index and the lines not yet in the run's records.
    Thread-safe: Send (`send`, `unrecorded`) and the run loop (the rest) call it from two threads."""

    def __init__(self, worker: int):
        self.worker = worker
        self._lock = threading.Lock()
        self._outbox: list[str] = []                 # sent, not yet handed to the engine
        self._handed: list[str] = []                 # handed to the engine, not yet in a pass record
        self._refused: list[tuple[str, str]] = []    # (line, why the engine refused it)
        self._open = True                            # False once the run takes no more text
        self.ready = False                           # the run's log is the session's (prompt read)

    def send(self, text: str) -> bool:
        """Leave a line for the next pass; False if the run no longer takes text."""
        with self._lock:
            if self._open:
                self._outbox.append(text)
            return self._open

    @property
    def is_open(self) -> bool:
        return self._open

    def hand_over(self) -> list[str]:
        """The run loop, between passes: the lines to give the engine now."""
        with self._lock:
            lines, self._outbox = self._outbox, []
            self._handed += lines
            return lines

    def refuse(self, text: str, reason: str) -> None:
        """The engine refused a handed line: the lane shows it with the reason."""
        with self._lock:
            self._handed.remove(text)
            self._refused.append((text, reason))

    def recorded(self) -> None:
        """The run loop, after a pass's record is in the run's log: the handed lines are in its lane."""
        with self._lock:
            self._handed = []

    def close(self, reason: str) -> None:
        """No more text (the run moved to its final answer or ended); lines still waiting are refused."""
        with self._lock:
            self._open = False
            self._refused += [(text, reason) for text in self._outbox]
            self._outbox = []

    def unrecorded(self) -> list[tuple[str, str]]:
        """(line, refusal or "") of every line sent and not in the run's records, oldest first."""
        with self._lock:
            return self._refused + [(text, "") for text in self._handed + self._outbox]

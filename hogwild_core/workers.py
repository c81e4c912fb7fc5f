"""One object per worker: what it has written, what it still has to write, where it stands."""

from dataclasses import dataclass, field

from .cache import Block

GENERATING, STOPPING, DONE = "generating", "stopping", "done"


@dataclass
class Worker:
    index: int
    name: str
    segment: str
    block: Block                                        # its step (or output) in progress
    pending: list[int] = field(default_factory=list)    # in the transcript, not yet in the cache
    transcript: list[int] = field(default_factory=list) # all it wrote, inserted prompts included
    inserted: list[tuple[int, int]] = field(default_factory=list)  # transcript spans the engine wrote
    paragraph: list[int] = field(default_factory=list)  # tokens since its last paragraph break
    written: list[int] = field(default_factory=list)    # sampled tokens of the step in progress
    finished: list[list[int]] = field(default_factory=list)  # sampled tokens of each finished step
    own_grams: dict = field(default_factory=dict)       # n-gram table of its own transcript
    status: str = GENERATING
    num_generated: int = 0
    num_steps: int = 1
    flush_at: int | None = None     # the step ends here in its block, once that much is written
    check_due: bool = False

    def insert(self, tokens: list[int]) -> None:
        """Append engine-written tokens (a prompt, not sampled) to the transcript."""
        self.inserted.append((len(self.transcript), len(self.transcript) + len(tokens)))
        self.transcript.extend(tokens)
        self.pending.extend(tokens)
        self.paragraph.extend(tokens)

    def append_sampled(self, token: int) -> None:
        self.transcript.append(token)
        self.pending.append(token)
        self.paragraph.append(token)
        self.written.append(token)
        self.num_generated += 1

"""What is compared: a method is (name, engine layout, number of workers, who splits the work).

* single       - one worker (layout "contiguous", W=1); it answers. It is probed at the evaluation's
                 budgets and at W times each of them, so that the table has two single-worker
                 baselines for a team of W: the same passes (the same wall time) and the same total
                 tokens (W x the passes: the same compute, the black line of the paper's Figure 3);
* independent  - W workers sharing only the prompt, each with its own random stream (none shares
                 the single run's); every worker answers: the table reports their majority vote
                 (W >= 3; at W = 2 a vote is a coin toss between two answers), whether any worker
                 was right (an upper bound, not a method) and the mean per-worker accuracy;
* hogwild      - W workers over the shared cache in one of the paper's layouts; Alice answers.
                 By default the workers choose how to split the work (the paper's protocol);
                 "planned" is the ablation where the prompt gives each worker its part.
"""

from dataclasses import dataclass

from hogwild_core import LAYOUTS, MAX_WORKERS

PLANNED = "planned"
METHOD_NAMES = ("single", "independent") + LAYOUTS + (PLANNED,)
# Seeds differ by method so that no two methods share a random stream: the single run's worker
# and an independent worker with the same prompt would otherwise write the same text.
SEED_OFFSET = {"single": 0, "independent": 1, "hogwild": 2}


@dataclass(frozen=True)
class Method:
    name: str             # "single", "independent" or "hogwild"
    layout: str           # the engine layout
    num_workers: int
    split: str = "chosen"  # "chosen" (the workers decide) or "planned" (the ablation)

    @property
    def answerers(self) -> list[int]:
        return list(range(self.num_workers)) if self.name == "independent" else [0]

    @property
    def label(self) -> str:
        if self.name == "single":
            return "single"
        if self.name == "independent":
            return f"independent W={self.num_workers}"
        planned = ", planned split" if self.split == PLANNED else ""
        return f"hogwild {self.layout} W={self.num_workers}{planned}"

    def seed(self, base: int) -> int:
        return base + SEED_OFFSET[self.name]

    def budgets(self, budgets: tuple[int, ...], team_sizes: tuple[int, ...]) -> tuple[int, ...]:
        """Where this method's run is probed: the budgets, and for the single worker also W x each."""
        if self.name != "single":
            return tuple(budgets)
        return tuple(sorted({b * w for b in budgets for w in (1, *team_sizes)}))


def build_methods(names: list[str], worker_counts: list[int]) -> list[Method]:
    """--methods x --workers -> methods; 'single' once, whatever the worker counts."""
    unknown = [n for n in names if n not in METHOD_NAMES]
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(unknown)}; use {', '.join(METHOD_NAMES)}")
    bad = [w for w in worker_counts if not 2 <= w <= MAX_WORKERS]
    if bad:
        raise ValueError(f"--workers takes counts between 2 and {MAX_WORKERS}; got {bad}")
    methods = [Method("single", "contiguous", 1)] if "single" in names else []
    for W in worker_counts:
        if "independent" in names:
            methods.append(Method("independent", "independent", W))
        methods += [Method("hogwild", layout, W) for layout in LAYOUTS if layout in names]
        if PLANNED in names:
            methods.append(Method("hogwild", "combined", W, PLANNED))
    return methods

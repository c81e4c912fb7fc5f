"""What is compared: a method is (name, engine layout, number of workers, who answers).

* single       - one worker (layout "contiguous", W=1); it answers;
* independent  - W workers sharing only the prompt; every worker answers, the answer is their
                 majority vote (and "any correct" is kept as an upper bound);
* hogwild      - W workers over the shared cache in one of the paper's layouts; Alice answers.
"""

from dataclasses import dataclass

from hogwild_core import LAYOUTS, MAX_WORKERS

METHOD_NAMES = ("single", "independent") + LAYOUTS


@dataclass(frozen=True)
class Method:
    name: str             # "single", "independent" or "hogwild"
    layout: str           # the engine layout
    num_workers: int

    @property
    def answerers(self) -> list[int]:
        return list(range(self.num_workers)) if self.name == "independent" else [0]

    @property
    def label(self) -> str:
        if self.name == "single":
            return "single"
        if self.name == "independent":
            return f"independent W={self.num_workers}"
        return f"hogwild {self.layout} W={self.num_workers}"


def build_methods(names: list[str], worker_counts: list[int]) -> list[Method]:
    """--methods x --workers -> methods; 'single' once, whatever the worker counts."""
    unknown = [n for n in names if n not in METHOD_NAMES]
    if unknown:
        raise SystemExit(f"unknown method(s) {', '.join(unknown)}; use {', '.join(METHOD_NAMES)}")
    bad = [w for w in worker_counts if not 2 <= w <= MAX_WORKERS]
    if bad:
        raise SystemExit(f"--workers takes counts between 2 and {MAX_WORKERS}; got {bad}")
    methods = [Method("single", "contiguous", 1)] if "single" in names else []
    for W in worker_counts:
        if "independent" in names:
            methods.append(Method("independent", "independent", W))
        methods += [Method("hogwild", layout, W) for layout in LAYOUTS if layout in names]
    return methods

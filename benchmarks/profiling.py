"""Where one pass's time goes: a module-by-module breakdown (forward hooks, exclusive wall time),
the top torch ops (torch.profiler) and the top Python functions (cProfile), for a Hogwild! pass and
for the DynamicCache pass of the same case."""

import cProfile
import pstats
import time
from dataclasses import dataclass, field

import torch

from .baselines import stock_attention, synchronize, timed

ATTENTION = "attention: kernel, RoPE, cache writes"
LINEAR = "linear layers, MLP, lm_head"
NORMS = "norms, embedding"
GLUE = "model glue: masks, RoPE tables, residuals"
OUTSIDE = "outside the forward: engine Python, sampling, cache building"
PARTS = (ATTENTION, LINEAR, NORMS, GLUE, OUTSIDE)


@dataclass
class Profile:
    reason: str                     # why this case was profiled
    num_workers: int
    context: int
    view_tokens: int
    hogwild: dict[str, float]       # part -> ms, one pass
    baseline: dict[str, float]
    hogwild_ops: list[tuple[str, float, int]] = field(default_factory=list)   # op, self ms, calls
    baseline_ops: list[tuple[str, float, int]] = field(default_factory=list)
    python: list[tuple[str, float, int]] = field(default_factory=list)        # function, own ms, calls


# ---- where time goes ----------------------------------------------------------------------
def module_part(name: str) -> str | None:
    """Which part of the breakdown a module's own (exclusive) time belongs to."""
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "self_attn":
        return ATTENTION
    if leaf in ("q_proj", "k_proj", "v_proj", "o_proj", "mlp", "lm_head"):
        return LINEAR
    if "norm" in leaf or leaf == "embed_tokens":
        return NORMS
    if name in ("", "model") or leaf == "rotary_emb" or (leaf.isdigit() and name.endswith(f"layers.{leaf}")):
        return GLUE
    return None


class ModuleTimer:
    """Forward hooks that add each module's exclusive wall time to its part (syncing on CUDA)."""

    def __init__(self, model, device: torch.device):
        self.model, self.device = model, device
        self.parts: dict[str, float] = dict.fromkeys(PARTS, 0.0)
        self.forward_seconds = 0.0
        self._stack: list[list] = []
        self._handles = []

    def __enter__(self):
        for name, module in self.model.named_modules():
            part = module_part(name)
            if part is not None:
                self._handles.append(module.register_forward_pre_hook(self._enter(part)))
                self._handles.append(module.register_forward_hook(self._leave))
        return self

    def __exit__(self, *exc):
        for handle in self._handles:
            handle.remove()

    def _enter(self, part: str):
        def hook(module, args):
            synchronize(self.device)
            self._stack.append([part, time.perf_counter(), 0.0])
        return hook

    def _leave(self, module, args, output):
        synchronize(self.device)
        part, began, children = self._stack.pop()
        inclusive = time.perf_counter() - began
        self.parts[part] += inclusive - children
        if self._stack:
            self._stack[-1][2] += inclusive
        else:
            self.forward_seconds += inclusive


def breakdown(case, run_pass) -> dict[str, float]:
    """ms per part of one pass; `run_pass()` returns the pass's wall seconds."""
    with ModuleTimer(case.model, case.device) as timer:
        total = run_pass()
    parts = {part: 1000 * s for part, s in timer.parts.items()}
    parts[OUTSIDE] = 1000 * (total - timer.forward_seconds)
    parts["pass (with hooks)"] = 1000 * total
    return parts


def top_ops(run_pass, device: torch.device, limit: int = 10) -> list[tuple[str, float, int]]:
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        run_pass()
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    rows = sorted(prof.key_averages(), key=lambda e: getattr(e, key), reverse=True)[:limit]
    return [(e.key, getattr(e, key) / 1000, e.count) for e in rows]


def top_python(run_pass, limit: int = 12) -> list[tuple[str, float, int]]:
    profiler = cProfile.Profile()
    profiler.runcall(run_pass)
    stats = pstats.Stats(profiler).stats  # (file, line, function) -> (calls, ncalls, own, cumulative, ...)
    rows = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:limit]
    return [(f"{file.rsplit('/', 1)[-1]}:{line}({fn})", 1000 * own, ncalls)
            for (file, line, fn), (_, ncalls, own, _, _) in rows]


def profile_case(case, reason: str, repeats: int = 3) -> Profile:
    """Where one pass's time goes, Hogwild! against the baseline (median-total pass of `repeats`)."""
    hogwild_pass = case.hogwild

    def baseline_runner():
        decode = case.prepare("dynamic")

        def run():
            with stock_attention(case.model):
                return timed(case.device, decode)
        return run

    def median_pass(parts_list):
        return sorted(parts_list, key=lambda p: p["pass (with hooks)"])[len(parts_list) // 2]

    hogwild = median_pass([breakdown(case, hogwild_pass) for _ in range(repeats)])
    baseline = median_pass([breakdown(case, baseline_runner()) for _ in range(repeats)])
    return Profile(reason, case.num_workers, case.context, case.view_length(), hogwild, baseline,
                   hogwild_ops=top_ops(hogwild_pass, case.device),
                   baseline_ops=top_ops(baseline_runner(), case.device),
                   python=top_python(hogwild_pass))



"""The GPU check's results and its markdown report: `report` is a pure function of the results;
`machine` asks torch what it runs on."""

import importlib.util
import platform
from dataclasses import dataclass, field

import torch
import transformers


def flash_attn_available() -> bool:
    return importlib.util.find_spec("flash_attn") is not None


@dataclass
class CaseResult:
    shape: str
    num_workers: int
    context: int
    view: int                                        # positions worker 0 attends to
    hogwild_ms: float
    plain_ms: dict[str, float] = field(default_factory=dict)    # method -> pass ms
    errors: dict[str, str] = field(default_factory=dict)

    def tokens_per_s(self) -> dict[str, float]:
        rows = {"sdpa, 1 sequence": 1, "FA2, 1 sequence": 1, f"sdpa, {self.num_workers} sequences": self.num_workers}
        out = {f"Hogwild! W={self.num_workers}": self.num_workers * 1000 / self.hogwild_ms}
        out.update({m: rows[m] * 1000 / ms for m, ms in self.plain_ms.items()})
        return out


@dataclass
class CallResult:
    shape: str
    view: int
    microseconds: dict[str, float]                  # method -> one attention call, events (CPU: wall)
    kernel_microseconds: dict[str, float] = field(default_factory=dict)   # CUDA: GPU kernel time only
    errors: dict[str, str] = field(default_factory=dict)



def machine(device: str) -> str:
    parts = [f"python {platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__}",
             f"flash_attn {'installed' if flash_attn_available() else 'not installed'}"]
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        parts.insert(0, f"{torch.cuda.get_device_name(0)} ({props.total_memory / 2**30:.0f} GiB, "
                        f"{torch.cuda.device_count()} visible), CUDA {torch.version.cuda}")
    else:
        from machine import machine_description

        parts.insert(0, f"CPU only: {machine_description()}")
    return "; ".join(parts)


def report(settings, rows, calls, skipped, paths, tests, seconds: float) -> str:
    """settings: the check's CheckSettings."""
    out = ["# GPU check: Hogwild! passes against plain decoding", ""]
    if settings.dry_run:
        out += ["**Dry run**: tiny random models on the CPU; the numbers below mean nothing. "
                "The check has not been run on a GPU.", ""]
    out += [f"Machine: {machine(settings.device)}.", "",
            f"`python -m benchmarks.gpu` ({seconds:.0f} s): random-weight models of real shapes in "
            f"{str(settings.dtype).replace('torch.', '')}, the combined layout, forced tokens; medians of "
            f"{settings.passes} timed passes after {settings.warmup} untimed.", ""]
    out += ["## Tokens per second (the shape of the paper's Table 1)", "",
            "A Hogwild! pass writes W tokens; a plain pass writes one per sequence. `view`: positions "
            "worker 0 attends to (the one-sequence baselines decode a sequence of the W=1 view's length).", ""]
    for shape in dict.fromkeys(r.shape for r in rows):
        mine = [r for r in rows if r.shape == shape]
        methods = list(dict.fromkeys(m for r in mine for m in r.tokens_per_s() if not m.startswith("Hogwild")))
        methods = [m for m in methods if "1 sequence" in m] + [m for m in methods if "1 sequence" not in m]
        out += [f"**{shape}**", "", "| context | W | view | Hogwild! tok/s | " + " | ".join(f"{m} tok/s" for m in methods)
                + " | Hogwild! / sdpa 1 seq |", "|" + "---|" * (5 + len(methods))]
        for r in mine:
            speeds = r.tokens_per_s()
            hog = speeds[f"Hogwild! W={r.num_workers}"]
            cells = [f"{speeds[m]:.1f}" if m in speeds else "-" for m in methods]
            base = speeds.get("sdpa, 1 sequence")
            ratio = f"{hog / base:.2f}x" if base else "-"
            out.append(f"| {r.context} | {r.num_workers} | {r.view} | {hog:.1f} | " + " | ".join(cells) + f" | {ratio} |")
        errors = [f"{r.context}/W={r.num_workers} {m}: {e}" for r in mine for m, e in r.errors.items()]
        out += [""] + ([f"Errors: {'; '.join(errors)}", ""] if errors else [])
    out += ["## One attention call (the shape of the paper's Table 2)", "",
            "Microseconds per call at the longest view: between CUDA events (on the CPU: wall time), and "
            "(CUDA) the sum of the call's GPU kernel times without the gaps between launches (torch.profiler). "
            "Hogwild!: the fused call replayed on layer 0's inputs from a real pass, all its launches.", ""]
    for call in calls:
        out += [f"**{call.shape}**, view {call.view}: " + ", ".join(
            f"{m} {us:.0f} µs" + (f" ({call.kernel_microseconds[m]:.0f} µs of kernels)" if m in call.kernel_microseconds else "")
            for m, us in call.microseconds.items())
            + ("; errors: " + "; ".join(f"{m}: {e}" for m, e in call.errors.items()) if call.errors else ""), ""]
    out += ["## Targets (issue #20)", ""] + targets(rows, calls) + [""]
    out += ["## Device paths", ""] + [f"* {line}" for line in paths] + [""]
    out += ["## The `cuda` tests", "", tests, ""]
    if skipped:
        out += ["## Skipped", ""] + [f"* {s}" for s in skipped] + [""]
    return "\n".join(out)


def targets(rows, calls) -> list[str]:
    lines = []
    by = {(r.shape, r.context, r.num_workers): r for r in rows}
    one, four = by.get(("qwq-32b", 4096, 1)), by.get(("qwq-32b", 4096, 4))
    if one and four:
        ratio = four.tokens_per_s()["Hogwild! W=4"] / one.tokens_per_s()["Hogwild! W=1"]
        lines.append(f"* QwQ-32B shape, 4k: W=4 gives {ratio:.2f}x the tokens/s of W=1 "
                     f"({'met' if ratio >= 3.4 else 'MISSED'}: target at least 3.4x)")
    else:
        lines.append("* QwQ-32B shape, 4k, W=4 against W=1: not measured")
    for call in calls:
        for times, what in ((call.microseconds, "time"), (call.kernel_microseconds, "kernel time")):
            base = times.get("flash_attn, 1 sequence") or times.get("sdpa, 1 sequence")
            for W in (2, 4):
                us = times.get(f"Hogwild! W={W}")
                if base and us:
                    lines.append(f"* {call.shape}, one attention call at {call.view}, W={W}: {us / base:.2f}x the "
                                 f"single-sequence fused call's {what} ({'met' if us <= 1.5 * base else 'MISSED'}: "
                                 "target at most 1.5x)")
    return lines



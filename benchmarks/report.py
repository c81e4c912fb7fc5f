"""Tables and target verdicts from measured results (pure functions: results in, text out)."""

from dataclasses import dataclass

from .profiling import PARTS, Profile
from .runs import RunResult
from .passes import METHODS, PassResult

MB = 1 / 2**20
DYNAMIC_TARGET = 1.00          # Hogwild! pass / DynamicCache pass, forced passes and real runs
STATIC_TARGET = 1.10           # / StaticCache pass at contexts up to 1024
STATIC_LONG_TARGET = 0.80      # / StaticCache pass at 4096 and more, W >= 4
FLOOR_TARGET = 1.30            # / linear-layer floor at W=8, 256 tokens


@dataclass(frozen=True)
class Verdict:
    target: str
    met: bool
    detail: str          # the worst case and, if missed, by how much

    def line(self) -> str:
        return f"{'met   ' if self.met else 'MISSED'}  {self.target}: {self.detail}"


def _ratio_verdict(target: str, cases: list[tuple[str, float]], limit: float) -> Verdict:
    """cases: (label, ratio); met when every ratio <= limit."""
    if not cases:
        return Verdict(target, False, "not measured")
    label, worst = max(cases, key=lambda c: c[1])
    misses = [f"{lab} {r:.2f}x" for lab, r in cases if r > limit]
    if not misses:
        return Verdict(target, True, f"all {len(cases)} cases; worst {label} {worst:.2f}x")
    return Verdict(target, False, f"{len(misses)} of {len(cases)} over, worst {label} {worst:.2f}x "
                                  f"({100 * (worst / limit - 1):.0f}% over): " + ", ".join(misses))


def verdicts(passes: list[PassResult], runs: list[RunResult]) -> list[Verdict]:
    case = lambda r: f"W={r.num_workers}/{r.context}"
    out = [_ratio_verdict(f"forced pass <= {DYNAMIC_TARGET:.2f}x DynamicCache",
                          [(case(r), r.ratio("dynamic")) for r in passes], DYNAMIC_TARGET)]
    if runs:
        out.append(_ratio_verdict(f"real-run mean pass <= {DYNAMIC_TARGET:.2f}x DynamicCache",
                                  [(f"W={r.num_workers}", r.ratio("dynamic")) for r in runs], DYNAMIC_TARGET))
    out.append(_ratio_verdict(f"forced pass <= {STATIC_TARGET:.2f}x StaticCache at <= 1024 tokens",
                              [(case(r), r.ratio("static")) for r in passes if r.context <= 1024], STATIC_TARGET))
    out.append(_ratio_verdict(f"forced pass <= {STATIC_LONG_TARGET:.2f}x StaticCache at >= 4096 tokens, W >= 4",
                              [(case(r), r.ratio("static")) for r in passes if r.context >= 4096 and r.num_workers >= 4],
                              STATIC_LONG_TARGET))
    out.append(_ratio_verdict(f"W=8 at 256 tokens <= {FLOOR_TARGET:.2f}x the linear-layer floor",
                              [(case(r), r.ratio("floor")) for r in passes if r.num_workers == 8 and r.context == 256],
                              FLOOR_TARGET))
    for label, attr in (("plain chat prompt", "independent_bytes"), ("the Hogwild! prompt", "same_prompt_bytes")):
        memory = [(case(r), r.cache_allocated_bytes / getattr(r, attr)) for r in passes]
        if memory:
            verdict = _ratio_verdict(f"shared cache (allocated) <= W independent decoders' caches ({label})",
                                     memory, 1.0)
            saving = [f"{lab} {1 - x:.0%}" for lab, x in memory]
            out.append(Verdict(verdict.target, verdict.met, verdict.detail + "; saving " + ", ".join(saving)))
    return out


PASS_HEADER = (f"{'W':>2} {'ctx':>5} {'view':>5} | " + " | ".join(f"{m + ' ms':>20}" for m in METHODS)
               + f" | {'/dyn':>5} {'/stat':>5} {'/floor':>6} | {'KV MB alloc':>11} {'indep':>7} {'same pr':>7}")


def pass_row(r: PassResult) -> str:
    times = " | ".join(f"{t.median_ms:7.1f} [{t.min_ms:5.1f}-{t.max_ms:5.1f}]" for t in
                       (r.timings[m] for m in METHODS))
    return (f"{r.num_workers:>2} {r.context:>5} {r.view_tokens:>5} | {times} | {r.ratio('dynamic'):5.2f} "
            f"{r.ratio('static'):5.2f} {r.ratio('floor'):6.2f} | {r.cache_allocated_bytes * MB:11.1f} "
            f"{r.independent_bytes * MB:7.1f} {r.same_prompt_bytes * MB:7.1f}")


def pass_table(results: list[PassResult]) -> str:
    return "\n".join([PASS_HEADER, "-" * len(PASS_HEADER)] + [pass_row(r) for r in results])


RUN_HEADER = (f"{'W':>2} {'passes':>6} {'view':>5} {'plain':>5} {'ends':>4} {'ins':>4} | {'TTFT ms':>8} {'pass ms':>8} "
              f"{'wall s':>7} | {'dyn TTFT':>8} {'pass':>6} {'wall':>6} | {'stat pass':>9} | "
              f"{'/dyn':>5} {'/stat':>5} | {'peak MB hw':>10} {'generate':>8}")


def run_row(r: RunResult) -> str:
    d, s = r.plain["dynamic"], r.plain["static"]
    peak = (f"{r.peak_mb['hogwild']:10.0f} {r.peak_mb['generate']:8.0f}" if r.peak_mb
            else f"{'-':>10} {'-':>8}")
    return (f"{r.num_workers:>2} {r.work_passes:>6} {r.mean_view:5.0f} {d.mean_positions:5.0f} "
            f"{r.step_ends:>4} {r.inserted_passes:>4} | "
            f"{r.ttft_ms:8.0f} {r.mean_pass_ms:8.1f} {r.wall_s:7.1f} | {d.ttft_ms:8.0f} {d.mean_pass_ms:6.1f} "
            f"{d.wall_s:6.1f} | {s.mean_pass_ms:9.1f} | {r.ratio('dynamic'):5.2f} {r.ratio('static'):5.2f} | {peak}")


def run_table(results: list[RunResult]) -> str:
    return "\n".join([RUN_HEADER, "-" * len(RUN_HEADER)] + [run_row(r) for r in results])


def profile_text(p: Profile) -> str:
    lines = [f"profile, {p.reason}: W={p.num_workers}, context {p.context} (view {p.view_tokens} tokens), "
             "one pass each",
             f"  {'part':<60} {'hogwild ms':>10} {'dynamic ms':>10}"]
    for part in PARTS + ("pass (with hooks)",):
        lines.append(f"  {part:<60} {p.hogwild[part]:10.2f} {p.baseline[part]:10.2f}")
    for title, rows in (("top ops, hogwild pass (torch.profiler, self time)", p.hogwild_ops),
                        ("top ops, DynamicCache pass (torch.profiler, self time)", p.baseline_ops),
                        ("top Python functions, hogwild pass (cProfile, own time)", p.python)):
        lines.append(f"  {title}:")
        lines.extend(f"    {ms:9.2f} ms {calls:6d}x  {name}" for name, ms, calls in rows)
    return "\n".join(lines)

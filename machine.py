"""Where this process runs, in words, for labelling what it measured or recorded (the demo's
recordings, the evaluation's settings, the benchmark's header)."""

import os
import platform


def machine_description(cpuinfo: str = "/proc/cpuinfo", gpu: str | None = None) -> str:
    """'AMD EPYC 7B13, 2 cores' (or the GPU's name when one ran the model)."""
    if gpu:
        return gpu
    name = None
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    name = " ".join((name or platform.processor() or platform.machine() or "unknown CPU").split())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return f"{name}, {cores} core{'s' if cores != 1 else ''}"

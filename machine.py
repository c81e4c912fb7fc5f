"""Where this process runs, in words, for labelling what it measured or recorded (the demo's
recordings, the evaluation's settings, the benchmark's header)."""

import os
import platform


def vector_extensions(flags: set[str]) -> str:
    """The widest SIMD the int8 and bfloat16 kernels can use here, from /proc/cpuinfo's flags
    ('' if none is named): machines of one model name differ in it, and speeds with them."""
    if "avx512_bf16" in flags:
        return "AVX-512 BF16"
    if "avx512_vnni" in flags:
        return "AVX-512 VNNI"
    if "avx512f" in flags:
        return "AVX-512"
    if "avx2" in flags:
        return "AVX2"
    return ""


def machine_description(cpuinfo: str = "/proc/cpuinfo", gpu: str | None = None) -> str:
    """'AMD EPYC 7B13, 2 cores, AVX2' (or the GPU's name when one ran the model)."""
    if gpu:
        return gpu
    name, flags = None, set()
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key == "model name" and name is None:
                    name = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
                if name is not None and flags:
                    break
    except OSError:
        pass
    name = " ".join((name or platform.processor() or platform.machine() or "unknown CPU").split())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    simd = vector_extensions(flags)
    return f"{name}, {cores} core{'s' if cores != 1 else ''}" + (f", {simd}" if simd else "")

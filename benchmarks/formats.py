"""Weight formats side by side: python -m benchmarks.formats [--model qwen2.5-coder-1.5b]
    [--formats int8,bfloat16,float32] [--context 300] [--rounds 4] [--kernels] [--json out.json]

For each format (loaded one after the other, each with load_model's own loader): load time and
peak RSS of the load (from a child process), forced one-token passes at W = 1, 2, 4 in ABBA order
against plain decoding with a DynamicCache of the same view (benchmarks.passes.Case: W=1 is plain
batch 1, W=4 plain batch 4) and against the linear-layer floor, and how many of 48 greedy tokens
equal float32's on a fixed question (plain `generate`).

--kernels also times one linear layer of each of the model's shapes at batch 1, 4 and 8 with every
int8 kernel we considered (fbgemm dynamic with one range per batch, our Int8Linear with one range
per token, torch._int_mm, torchao's eager configs when torchao is importable) and bfloat16/float32:
the numbers behind the choice in hogwild_core/weights.py."""

import argparse
import json
import random
import subprocess
import sys
import time

import torch

QUESTION = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
            "How many clips did Natalia sell altogether in April and May?")
GREEDY_TOKENS = 48


def load_in_child(model: str | None, weights: str) -> dict:
    """Load time and peak RSS of a load in a fresh process (the parent's memory would hide it)."""
    code = ("import json, resource, sys, time, torch; torch.set_num_threads(int(sys.argv[3]));"
            "t = time.perf_counter(); from hogwild_core import load_model;"
            "load_model(sys.argv[1] or None, weights=sys.argv[2]);"
            "print(json.dumps({'seconds': time.perf_counter() - t,"
            " 'peak_gb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}))")
    done = subprocess.run([sys.executable, "-c", code, model or "", weights, str(torch.get_num_threads())],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"loading {model} as {weights} failed: {done.stderr[-1500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def greedy_ids(model, tokenizer) -> list[int]:
    ids = tokenizer.apply_chat_template([{"role": "user", "content": QUESTION}], add_generation_prompt=True,
                                        return_tensors="pt", return_dict=True)["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=GREEDY_TOKENS, do_sample=False, min_new_tokens=GREEDY_TOKENS)
    return out[0, ids.shape[1]:].tolist()


def measure_format(name: str | None, weights: str, context: int, rounds: int, seed: int) -> dict:
    from hogwild_core import load_model
    from hogwild_core.weights import format_of

    from .passes import Case

    load = load_in_child(name, weights)
    model, tokenizer = load_model(name, weights=weights)
    row = {"weights": format_of(model), "load_seconds": round(load["seconds"], 1),
           "load_peak_gb": round(load["peak_gb"], 2), "passes": {}}
    rng = random.Random(seed)
    for W in (1, 2, 4):
        case = Case(model, tokenizer, W, context, "combined", warmup=2)
        result = case.measure(rounds, 2, rng)
        row["passes"][W] = {m: round(t.median_ms, 1) for m, t in result.timings.items()}
        row["passes"][W]["view_tokens"] = result.view_tokens
        del case
    row["greedy"] = greedy_ids(model, tokenizer)
    return row


def kernel_table(model_name: str | None, batch_sizes=(1, 4, 8), repeats: int = 30) -> list[dict]:
    """Per linear shape of the model and batch size: ms per call of each kernel."""
    import warnings

    from hogwild_core import load_model
    from hogwild_core.weights import Int8Linear

    model, _ = load_model(model_name, weights="float32")
    shapes = sorted({(m.in_features, m.out_features) for m in model.modules() if type(m) is torch.nn.Linear})
    del model
    try:
        import torchao
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, Int8WeightOnlyConfig, quantize_
    except ImportError:
        torchao = None
    rows = []

    def timed(fn) -> float:
        for _ in range(3):
            fn()
        began = time.perf_counter()
        for _ in range(repeats):
            fn()
        return round((time.perf_counter() - began) / repeats * 1000, 3)

    for K, N in shapes:
        torch.manual_seed(0)
        linear = torch.nn.Linear(K, N).eval()
        kernels = {"float32": (linear, torch.float32), "bfloat16": (_copy(linear).bfloat16(), torch.bfloat16),
                   "int8 per token (Int8Linear, fbgemm)": (Int8Linear(linear.weight, linear.bias), torch.float32)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
            from torch.ao.quantization import per_channel_dynamic_qconfig
            source = _copy(linear)
            source.qconfig = per_channel_dynamic_qconfig
            kernels["int8 one range per batch (quantize_dynamic, fbgemm)"] = (DynamicLinear.from_float(source),
                                                                              torch.float32)
        weight_int8 = torch.randint(-127, 128, (N, K), dtype=torch.int8)
        if torchao is not None:
            for label, config in (("torchao Int8DynamicActivationInt8Weight (eager)", Int8DynamicActivationInt8WeightConfig()),
                                  ("torchao Int8WeightOnly (eager)", Int8WeightOnlyConfig())):
                quantized = torch.nn.Sequential(_copy(linear))
                quantize_(quantized, config)
                kernels[label] = (quantized, torch.float32)
        for M in batch_sizes:
            x = torch.randn(M, 1, K)
            row = {"shape": f"{K}x{N}", "batch": M}
            with torch.no_grad():
                for label, (module, dtype) in kernels.items():
                    row[label] = timed(lambda: module(x.to(dtype)))
                x_int8 = torch.randint(-127, 128, (M, K), dtype=torch.int8)
                row["torch._int_mm (int8 x int8 only)"] = timed(lambda: torch._int_mm(x_int8, weight_int8.t()))
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def _copy(linear: torch.nn.Linear) -> torch.nn.Linear:
    out = torch.nn.Linear(linear.in_features, linear.out_features)
    out.load_state_dict(linear.state_dict())
    return out.eval()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.formats", description=__doc__.splitlines()[0])
    p.add_argument("--model", default="qwen2.5-coder-1.5b")
    p.add_argument("--formats", default="int8,bfloat16,float32")
    p.add_argument("--context", type=int, default=300)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kernels", action="store_true", help="also time every int8 kernel on the model's layer shapes")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from machine import machine_description

    load = open("/proc/loadavg").read().split()[:3] if sys.platform.startswith("linux") else []
    print(f"machine: {machine_description()}, torch threads {torch.get_num_threads()}, load {' '.join(load)}")
    rows = []
    for weights in args.formats.split(","):
        row = measure_format(args.model, weights, args.context, args.rounds, args.seed)
        rows.append(row)
        passes = row["passes"]
        print(f"{row['weights']:>9}: load {row['load_seconds']} s, peak {row['load_peak_gb']} GB | plain b1 "
              f"{passes[1]['dynamic']} b4 {passes[4]['dynamic']} | hogwild W1 {passes[1]['hogwild']} W2 "
              f"{passes[2]['hogwild']} W4 {passes[4]['hogwild']} | floor b4 {passes[4]['floor']} ms", flush=True)
    reference = next((r["greedy"] for r in rows if r["weights"] == "float32"), None)
    for row in rows:
        if reference is not None:
            row["greedy_equal_to_float32"] = next((i for i, (a, b) in enumerate(zip(row["greedy"], reference))
                                                   if a != b), GREEDY_TOKENS)
            print(f"{row['weights']:>9}: first {row['greedy_equal_to_float32']} of {GREEDY_TOKENS} greedy tokens "
                  "equal float32's")
    kernels = kernel_table(args.model) if args.kernels else []
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine_description(), "load_average": load, "threads": torch.get_num_threads(),
                       "formats": rows, "kernels": kernels}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The fused kernel (hogwild_core/fused.py), one layer at a time, against the segment kernel
(hogwild_core/attention.py) on the same hand-filled shared cache, on every device there is.

Both kernels write the same new keys/values and must give the same attention output and the same
attention mass per block for: every layout, W from 1 to 8, decode passes (one token per writer),
passes where writers write several tokens (causal over their own) or only some write, the setup
passes (the prompt alone; the two headers, which see nothing of each other), a history of several
blocks, both forms (explicit, split) with every split kernel the device has (cpu or cuda, and the
plain math kernel), split-K chunks, and the head layouts of real models (GQA ratios 1 to 7, head
dims 16 to 128). Tolerances: float32 1e-5 on outputs and masses; bfloat16 and float16 against the
float32 segment kernel on the same rounded inputs, 3e-2 and 4e-3 on outputs of size about 0.3
(about 8 and 8 units of the formats' last place), 1e-2 and 2e-3 on masses. CUDA cases carry the
`cuda` marker and are skipped without a GPU."""

import pytest
import torch

import hogwild_core.fused as fused
from hogwild_core.attention import FastPlan, fast_attention
from hogwild_core.blocks import CURRENT_KIND, HEADER_KIND, PROMPT_KIND, STEP_KIND
from hogwild_core.cache import SharedCache
from hogwild_core.view import (HEADER_OTHERS, HEADER_OWN, HISTORY, PROMPT, build_view, has_history,
                               segment_names, worker_segment, worker_view)

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.cuda, CUDA])]
HEADS = [(4, 2, 16), (9, 3, 64), (14, 2, 64), (12, 2, 128), (40, 8, 128), (8, 8, 32)]   # H, Hkv, D
TOLERANCE = {torch.float32: (1e-5, 1e-5), torch.bfloat16: (3e-2, 1e-2), torch.float16: (4e-3, 2e-3)}


class Layer:
    """What the kernels read from the attention module: its index."""
    layer_idx = 0


def forms(device: str) -> list[tuple[str, str | None]]:
    """(form, split kernel) pairs that run on the device."""
    return [("explicit", None), ("split", device), ("split", "math")]


def filled_cache(layout: str, W: int, prompt: int, seed: int, num_kv: int, head_dim: int,
                 dtype=torch.float32, device="cpu", prompt_only=False) -> SharedCache:
    """A one-layer shared cache holding random keys/values: the prompt, headers, a history of three
    steps, and worker w's own segment of 3 + 5w positions (an empty one for the last worker); or
    the prompt alone, as during setup."""
    generator = torch.Generator().manual_seed(seed)
    inv_freq = 1.0 / (10000 ** (torch.arange(0, head_dim, 2).float() / head_dim))
    cache = SharedCache(segment_names(layout, W), 1, inv_freq)

    def fill(segment: str, kind: str, owner, n: int):
        cache.open_block(kind, owner, segment)
        if n:
            start = cache.length(segment)
            k, v = (torch.randn(num_kv, n, head_dim, generator=generator).to(dtype).to(device) for _ in range(2))
            cache.write(0, segment, start, k, v)
            cache.append(segment, [1] * n)

    fill(PROMPT, PROMPT_KIND, None, prompt)
    if prompt_only:
        return cache
    if layout == "combined":
        fill(HEADER_OTHERS, HEADER_KIND, None, 7)
        fill(HEADER_OWN, HEADER_KIND, None, 5)
    if has_history(layout):
        for step in (4, 9, 6):
            fill(HISTORY, STEP_KIND, 0, step)
    for w in range(W):
        fill(worker_segment(w), CURRENT_KIND, w, 0 if w == W - 1 and W > 1 else 3 + 5 * w)
    return cache


def decode_views(cache, layout, W, pattern):
    """The writers and what each writes: "decode" one token each, "mixed" 1 + w % 3 tokens,
    "some" only the even workers."""
    lengths = cache.lengths()
    writers = range(0, W, 2) if pattern == "some" else range(W)
    new = (lambda w: 1 + w % 3) if pattern == "mixed" else (lambda w: 1)
    return [worker_view(layout, w, W, lengths, new(w)) for w in writers]


def setup_views(cache, pattern):
    """The engine's setup passes on a cache holding only the prompt: its next chunk (causal), or
    the two headers, each written as if it followed the prompt."""
    lengths = cache.lengths()
    if pattern == "prompt":
        return [build_view([PROMPT], lengths, PROMPT, 20)]
    for name in (HEADER_OTHERS, HEADER_OWN):
        cache.open_block(HEADER_KIND, None, name)
    return [build_view([PROMPT, name], lengths, name, n) for name, n in ((HEADER_OTHERS, 4), (HEADER_OWN, 3))]


def both_kernels(cache, views, heads, dtype, device, form, kernel, seed=1):
    """(fused output, fused mass), (segment output, segment mass); the segment kernel in float32
    on the same (rounded) inputs."""
    H, num_kv, D = heads
    T = sum(v.num_new for v in views)
    generator = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(1, n, T, D, generator=generator).to(dtype) for n in (H, num_kv, num_kv))
    fused_plan = fused.FusedPlan(views, cache, cache.inv_freq, torch.device(device), True, kernel)
    fused_plan.form = form
    out, _ = fused.fused_attention(Layer(), q.to(device), k.to(device), v.to(device), D ** -0.5, fused_plan)
    result = (out.float().cpu(), fused_plan.layer_attention[0].float().cpu())
    reference_cache = cache
    if dtype != torch.float32 or device != "cpu":
        reference_cache = SharedCache(cache.segment_names, 1, cache.inv_freq)
        reference_cache._table = cache._table     # the same books over a float32 copy of the storage
        for name in cache.segment_names:
            n = cache.length(name)
            if n:
                keys, values = cache.read(0, name, n)
                reference_cache.write(0, name, 0, keys.float().cpu(), values.float().cpu())
    plan = FastPlan(views, reference_cache, cache.inv_freq, torch.device("cpu"), True)
    expected, _ = fast_attention(Layer(), q.float(), k.float(), v.float(), D ** -0.5, plan)
    return result, (expected, plan.layer_attention[0])


def check(got, expected, dtype):
    out_tol, mass_tol = TOLERANCE[dtype]
    assert float((got[0] - expected[0]).abs().max()) < out_tol
    assert got[1].shape == expected[1].shape
    assert float((got[1] - expected[1]).abs().max()) < mass_tol
    assert torch.allclose(got[1].sum(-1), torch.ones(got[1].shape[0]), atol=10 * mass_tol)


CASES = [(layout, W, pattern) for layout, Ws in (("combined", (1, 2, 3, 8)), ("interleaved", (1, 4)),
                                                 ("contiguous", (2, 5)), ("independent", (3,)))
         for W in Ws for pattern in ("decode", "mixed", "some")]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("layout, W, pattern", CASES)
def test_fused_equals_segments(layout, W, pattern, device):
    cache = filled_cache(layout, W, 40 + 7 * W, seed=W, num_kv=2, head_dim=16, device=device)
    views = decode_views(cache, layout, W, pattern)
    for form, kernel in forms(device):
        got, expected = both_kernels(cache, views, (4, 2, 16), torch.float32, device, form, kernel)
        check(got, expected, torch.float32)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("pattern", ["prompt", "headers"])
def test_setup_passes(pattern, device):
    """The prompt written alone (causal, no other segment), and the headers, which each see the
    prompt and nothing of the other header (the split form's empty rows)."""
    cache = filled_cache("combined", 3, 30, seed=5, num_kv=2, head_dim=16, device=device, prompt_only=True)
    views = setup_views(cache, pattern)
    for form, kernel in forms(device):
        got, expected = both_kernels(cache, views, (4, 2, 16), torch.float32, device, form, kernel)
        check(got, expected, torch.float32)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("heads", HEADS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_head_layouts_and_dtypes(heads, dtype, device):
    H, num_kv, D = heads
    cache = filled_cache("combined", 4, 150, seed=H, num_kv=num_kv, head_dim=D, dtype=dtype, device=device)
    views = decode_views(cache, "combined", 4, "mixed")
    for form, kernel in forms(device):
        got, expected = both_kernels(cache, views, heads, dtype, device, form, kernel)
        check(got, expected, dtype)


@pytest.mark.parametrize("device", DEVICES)
def test_split_k_chunks(device, monkeypatch):
    """A long segment every token sees whole, cut into chunks plus a remainder (on the CPU too)."""
    monkeypatch.setattr(fused, "SPLIT_K_DEVICES", ("cpu", "cuda"))
    monkeypatch.setattr(fused, "MIN_CHUNK", 16)
    cache = filled_cache("combined", 3, 300, seed=3, num_kv=2, head_dim=16, device=device)
    views = decode_views(cache, "combined", 3, "decode")
    plan = fused.FusedPlan(views, cache, cache.inv_freq, torch.device(device), False)
    plan.form = "split"
    calls = plan.on(torch.device(device), torch.float32, 0.25, 2, 2, 16, 0).calls
    assert calls[0].chunk and 300 % calls[0].chunk, "the prompt is chunked with a remainder"
    for kernel in (device, "math"):
        got, expected = both_kernels(cache, views, (4, 2, 16), torch.float32, device, "split", kernel)
        check(got, expected, torch.float32)


def test_chunk_lengths():
    assert fused.chunk_length(16384, 8, 40) == 512             # 32 chunks x 8 KV heads = 256 blocks
    assert fused.chunk_length(16384, 8, 200) == 2048           # 8 chunks x 8 heads x 4 row blocks
    assert fused.chunk_length(1000, 8, 40) is None             # too short to cut
    assert fused.chunk_length(16384, 256, 40) is None          # enough blocks already


def test_prefix_mask_rows_are_aligned():
    mask = fused.prefix_mask(torch.tensor([0, 3, 5]), 5, torch.float32)
    assert mask.shape == (3, 5) and mask.stride(0) % fused.MASK_ALIGN == 0
    assert torch.equal(torch.isinf(mask), torch.arange(5)[None, :] >= torch.tensor([[0], [3], [5]]))


def test_the_pool_holds_every_short_segment():
    """Keys of every segment other than the prompt and history live in one pooled buffer per
    layer, written for all writers by one indexed copy."""
    cache = filled_cache("combined", 3, 30, seed=0, num_kv=2, head_dim=16)
    keys, _ = cache.pool(0)
    assert cache.pooled == (HEADER_OTHERS, HEADER_OWN, "worker0", "worker1", "worker2")
    assert keys.shape[:2] == (2, 5)
    for slot, name in enumerate(cache.pooled):
        n = cache.length(name)
        assert torch.equal(cache.read(0, name, n)[0], keys[:, slot, :n])
    views = decode_views(cache, "combined", 3, "mixed")
    writes = [(v.own, v.start, t0, t0 + v.num_new) for v, t0 in zip(views, (0, 1, 3))]
    rows = cache.rows(writes, torch.device("cpu"))
    new_k, new_v = torch.randn(2, 6, 16), torch.randn(2, 6, 16)
    cache.write_rows(0, rows, new_k, new_v)
    for view, t0 in zip(views, (0, 1, 3)):
        k, v = cache.read(0, view.own, view.start + view.num_new)
        assert torch.equal(k[:, view.start:], new_k[:, t0:t0 + view.num_new])
        assert torch.equal(v[:, view.start:], new_v[:, t0:t0 + view.num_new])

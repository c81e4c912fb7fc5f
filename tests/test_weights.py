"""Weight formats: the int8 linear, the format rules and their errors, and exactness on int8 models.

Exactness in int8. Int8Linear quantizes each token on its own, so batching writers together
changes nothing, and the fast path (all writers in one batch) agrees with the reference path
(one writer at a time) as in float32: typical logit differences of 1e-6. One thing differs from
float32: the two paths' attention outputs differ by float rounding (about 1e-7), and now and then
such a difference lands on an int8 rounding boundary and moves one activation by one level; the
token whose keys/values came out of that pass then differs for the rest of the run. So the int8
check is: the median row agrees within 1e-4 and at least 75% of rows within 1e-3 (measured:
83-100% on these cases, median 1e-6). One quantization range per batch (plain fbgemm dynamic
quantization, the last test) fails it by four orders of magnitude: median 0.5, no row within 1e-3."""

import copy

import pytest
import torch

from hogwild_core import HogwildEngine, ModelLoadError, load_model
from hogwild_core import weights
from hogwild_core.weights import Int8Linear, choose_format, format_of, quantize_linears
from tests.conftest import ARCHITECTURES, make_tiny_model
from tests.drive import max_abs_diff, run_lockstep, script_ids
from tests.test_exactness import PROBLEM, make_config, per_block, plain_last

INT8_CASES = [(arch, layout, W) for arch, (layout, W) in zip(
    ARCHITECTURES, [("combined", 3), ("interleaved", 2), ("contiguous", 5), ("independent", 2)])]


@pytest.fixture(scope="module")
def int8_models(tokenizer):
    built = {}

    def get(arch: str, num_layers: int = 2):
        if (arch, num_layers) not in built:
            built[arch, num_layers] = quantize_linears(make_tiny_model(arch, len(tokenizer), num_layers))
        return built[arch, num_layers]

    return get


# ---- the int8 linear -----------------------------------------------------------------------------
@pytest.mark.parametrize("bias", (True, False))
def test_int8_linear_is_close_to_the_float_layer(bias):
    torch.manual_seed(0)
    linear = torch.nn.Linear(96, 40, bias=bias)
    layer = Int8Linear(linear.weight, linear.bias)
    x = torch.randn(3, 7, 96) * torch.rand(3, 7, 1) * 20        # rows of very different sizes
    expected = linear(x).detach()
    got = layer(x)
    assert got.shape == expected.shape
    assert float((got - expected).norm() / expected.norm()) < 0.03


def test_int8_linear_gives_each_row_the_bits_it_gets_alone():
    torch.manual_seed(1)
    layer = Int8Linear(torch.randn(64, 48), torch.randn(64))
    x = torch.randn(9, 48)
    x[3] *= 1000.0                                            # an outlier row must not change the others
    x[5] = 0.0                                                # a zero row gives the bias, not NaN
    batch = layer(x)
    for i in range(9):
        assert torch.equal(layer(x[i:i + 1]), batch[i:i + 1]), i
    assert torch.equal(batch[5], layer.bias)


def test_quantize_linears_replaces_every_linear(tokenizer):
    model = quantize_linears(make_tiny_model("qwen2", len(tokenizer)))
    assert not [m for m in model.modules() if type(m) is torch.nn.Linear]
    assert len([m for m in model.modules() if isinstance(m, Int8Linear)]) == 2 * 7 + 1
    assert format_of(model) == "int8"
    assert format_of(make_tiny_model("qwen2", len(tokenizer))) == "float32"
    assert format_of(make_tiny_model("qwen2", len(tokenizer)).to(torch.bfloat16)) == "bfloat16"


# ---- which format, and errors ----------------------------------------------------------------------
def test_auto_chooses_by_device_and_model():
    assert choose_format("auto", "cuda", 10, False) == "bfloat16"
    assert choose_format("auto", "cuda:1", 10**10, True) == "bfloat16"
    assert choose_format("auto", None, 135_000_000, False) == "float32"
    assert choose_format("auto", "cpu", 135_000_000, True) == "int8"       # a catalog model
    assert choose_format("auto", None, 1_500_000_000, False) == "int8"
    assert choose_format("float32", None, 10**10, True) == "float32"       # an explicit choice stands


def test_auto_stays_float_where_int8_cannot_run(monkeypatch):
    monkeypatch.setattr(weights, "int8_supported", lambda: False)
    assert choose_format("auto", None, 10**10, True) == "float32"
    with pytest.raises(ModelLoadError, match="weights='int8' needs torch's fbgemm"):
        choose_format("int8", None, 10, False)


@pytest.mark.parametrize("kwargs, message", [
    (dict(weights="int4"), r"unknown weight format 'int4' \(option weights=\); choose one of auto, int8"),
    (dict(weights="int8", device="cuda"), "weights='int8' runs on the CPU only; on a GPU use weights='bfloat16'"),
    (dict(weights=None), "unknown weight format None"),
])
def test_bad_formats_are_refused_before_loading(kwargs, message, monkeypatch):
    import hogwild_core.loading as loading

    monkeypatch.setattr(loading, "load_gguf", lambda *a, **k: pytest.fail("loaded despite a bad format"))
    with pytest.raises(ModelLoadError, match=message):
        load_model(**kwargs)


def test_too_little_memory_is_a_clear_error():
    with pytest.raises(ModelLoadError, match=r"needs about 6\.0 GB in float32 weights, and only 2\.0 GB of memory "
                                             r"is free; close other programs or weights='int8'"):
        weights.check_memory(6_000_000_000, "float32", "big", available=2_000_000_000)
    weights.check_memory(1_000_000_000, "int8", "small", available=2_000_000_000)


def test_too_little_memory_stops_a_load_before_its_weights_are_read(monkeypatch):
    import hogwild_core.gguf_loading as gguf_loading

    monkeypatch.setattr(weights, "available_memory", lambda: 300_000_000)
    monkeypatch.setattr(gguf_loading, "fill", lambda *a, **k: pytest.fail("weights were read"))
    with pytest.raises(ModelLoadError, match=r"model 'default' needs about 0\.[0-9] GB in float32 weights"):
        load_model()


# ---- exactness in int8 -------------------------------------------------------------------------------
def agree_up_to_int8_rounding(row_diffs: list[float]) -> bool:
    diffs = torch.tensor(row_diffs)
    return float(diffs.median()) < 1e-4 and float((diffs < 1e-3).float().mean()) >= 0.75


def fast_and_reference_diffs(model, tokenizer, W, layout) -> list[float]:
    """Max |logit difference| per (pass, writer) between the two paths driven by the same tokens."""
    fast = HogwildEngine(model, tokenizer, make_config(W, layout, "fast"))
    ref = HogwildEngine(model, tokenizer, make_config(W, layout, "reference"))
    diffs = []
    for ev_fast, ev_ref in run_lockstep([fast, ref], PROBLEM, script_ids(tokenizer)):
        assert ev_fast.writers == ev_ref.writers and ev_fast.flushed == ev_ref.flushed
        diffs += [max_abs_diff(ev_fast.logits[w], ev_ref.logits[w]) for w in ev_fast.writers]
    assert [fast.transcript(w) for w in range(W)] == [ref.transcript(w) for w in range(W)]
    return diffs


@pytest.mark.parametrize("arch, layout, W", INT8_CASES)
def test_int8_fast_path_equals_reference(arch, layout, W, int8_models, tokenizer):
    assert agree_up_to_int8_rounding(fast_and_reference_diffs(int8_models(arch), tokenizer, W, layout))


@pytest.mark.parametrize("layout, W", [("combined", 3), ("contiguous", 2)])
def test_int8_one_layer_equals_plain_forward(layout, W, int8_models, tokenizer):
    model = int8_models("llama", 1)
    plain = copy.deepcopy(model)
    plain.set_attn_implementation("eager")
    engine = HogwildEngine(model, tokenizer, make_config(W, layout, "fast"))
    logit_diffs, attention_diffs = [], []
    for (ev,) in run_lockstep([engine], PROBLEM, script_ids(tokenizer)):
        for w in ev.writers:
            logits, probs = plain_last(plain, engine.view_token_ids(w))
            logit_diffs.append(float((ev.logits[w] - logits).abs().max()))
            expected = per_block(probs, engine.view_blocks(w), ev.attention.shape[-1])
            attention_diffs.append(float((ev.attention_by_layer[:, w] - expected).abs().max()) * 10)
    assert agree_up_to_int8_rounding(logit_diffs)
    assert agree_up_to_int8_rounding(attention_diffs)       # attention mass: within 1e-4 as in float32


def test_one_range_per_batch_would_break_exactness(int8_models, tokenizer, monkeypatch):
    """The check above can fail: quantizing each pass's whole input with one range (what plain
    fbgemm dynamic quantization does) makes the batched fast path differ from the reference."""
    def one_range(self, x):
        rows = x.reshape(-1, self.in_features)
        padded = torch.cat([rows, rows.new_zeros(rows.shape[0], self.PINS)], 1)
        out = torch.ops.quantized.linear_dynamic(padded, self._packed, True)
        out = out if self.bias is None else out + self.bias
        return out.reshape(*x.shape[:-1], self.out_features)

    monkeypatch.setattr(Int8Linear, "forward", one_range)
    diffs = fast_and_reference_diffs(int8_models("qwen2"), tokenizer, 3, "combined")
    assert not agree_up_to_int8_rounding(diffs)
    assert float(torch.tensor(diffs).median()) > 1e-2

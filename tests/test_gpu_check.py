"""The prepared GPU check (`python -m benchmarks.gpu`) in its dry run: tiny shapes on the CPU, every
section of the real check (both tables, the device paths, the report) so that it cannot rot before
a GPU runs it. No timed assertions."""

import pytest
import torch

from benchmarks import gpu


def test_the_dry_run_writes_every_section(tokenizer, tmp_path):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path / "report.md"
    try:
        assert gpu.main(["--dry-run", "--out", str(out)], log=lambda line: None, tokenizer=tokenizer) == 0
    finally:
        torch.set_num_threads(before)
    text = out.read_text()
    assert "**Dry run**" in text and "has not been run on a GPU" in text
    for shape in gpu.TINY_SHAPES:
        assert f"**{shape}**" in text
        assert f"**{shape}**, view" in text                       # the one-call table
    assert text.count("| 48 | 1 |") == 2 and text.count("| 48 | 2 |") == 2
    assert "Hogwild! W=2" in text and "sdpa, 1 sequence" in text and "sdpa, 2 sequences tok/s" in text
    assert 'device_map="auto": ok' in text and "ZeroGPU (demo/gpu.py)" in text
    assert "QwQ-32B shape, 4k, W=4 against W=1: not measured" in text
    assert "Skipped" not in text and "Errors" not in text


def test_real_shapes_build_the_published_configs():
    """The shapes the GPU runs, checked without allocating them (meta device)."""
    expected = {"qwen2.5-1.5b": (28, 12, 2, 128), "qwen3-8b": (36, 32, 8, 128), "qwq-32b": (64, 40, 8, 128)}
    for name, (layers, heads, kv, head_dim) in expected.items():
        config = gpu.build_config(name)
        assert (config.num_hidden_layers, config.num_attention_heads, config.num_key_value_heads) == (layers, heads, kv)
        assert (getattr(config, "head_dim", None) or config.hidden_size // heads) == head_dim
    model = gpu.random_model("qwq-32b", "meta", torch.bfloat16)
    assert 32e9 < sum(p.numel() for p in model.parameters()) < 33.5e9


def test_without_a_gpu_the_real_check_refuses(capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert gpu.main([]) == 2
    assert "--dry-run" in capsys.readouterr().err

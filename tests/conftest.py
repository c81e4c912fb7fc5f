"""Shared fixtures: the real tokenizer (from the embedded GGUF), tiny random models of every
supported architecture, and the embedded default model for tests marked `slow`."""

import os

# Tests never reach a model hub: hub ids fail fast instead of downloading. Set before
# huggingface_hub is imported, which reads these once.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")    # gradio_client in tests phones nobody
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

from hogwild_core import default_model_file, load_model  # noqa: E402

# One thread per test process: the suite runs in two processes on two cores, and oversubscribed
# cores make torch several times slower.
torch.set_num_threads(1)

ARCHITECTURES = ("llama", "qwen2", "qwen3", "mistral")


@pytest.fixture
def one_thread():
    """Tiny models are dispatch-bound and run far faster on one thread when the cores are shared;
    the thread count is put back afterwards whatever the test set it to."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def files_in_tmp(tmp_path, monkeypatch):
    """Temporary files (traces, CSVs a run writes) go to the test's own folder."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


@pytest.fixture(scope="session")
def tokenizer():
    gguf = default_model_file()
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)


def tiny_config(arch: str, vocab_size: int, num_layers: int = 2):
    """A small config of `arch` with non-default RoPE where the family has one in the wild:
    llama3 scaling for Llama, YaRN (with its attention factor) for Qwen2."""
    from transformers import LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config

    common = dict(vocab_size=vocab_size, hidden_size=64, intermediate_size=128,
                  num_hidden_layers=num_layers, num_attention_heads=4, num_key_value_heads=2,
                  max_position_embeddings=4096, initializer_range=0.2, tie_word_embeddings=False,
                  attn_implementation="eager")
    if arch == "llama":
        rope = {"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0, "low_freq_factor": 1.0,
                "high_freq_factor": 4.0, "original_max_position_embeddings": 128}
        return LlamaConfig(**common, rope_parameters=rope)
    if arch == "qwen2":
        rope = {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                "original_max_position_embeddings": 1024}
        return Qwen2Config(**common, rope_parameters=rope)
    if arch == "qwen3":
        return Qwen3Config(**common, head_dim=16)
    if arch == "mistral":
        return MistralConfig(**common, sliding_window=None)
    raise ValueError(arch)


def make_tiny_model(arch: str, vocab_size: int, num_layers: int = 2, seed: int = 0):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_config(arch, vocab_size, num_layers), dtype=torch.float32)
    return model.eval()


@pytest.fixture(scope="session")
def tiny_models(tokenizer):
    """(arch, num_layers) -> model, built once per session."""
    built = {}

    def get(arch: str, num_layers: int = 2):
        key = (arch, num_layers)
        if key not in built:
            built[key] = make_tiny_model(arch, len(tokenizer), num_layers)
        return built[key]

    return get


@pytest.fixture(scope="session")
def default_model():
    return load_model()

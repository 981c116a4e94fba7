"""Load Hugging Face models safely: safetensors only, no remote code unless asked.

GGUF files are dequantised by transformers once and cached as safetensors (models/converted.py),
so the ~20 s conversion happens on first use only.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from bakeoff.errors import BakeoffError
from bakeoff.models.converted import converted_dir, source_digest, write_converted
from bakeoff.models.registry import ModelSource
from bakeoff.precision import configure_threads


def _gguf_cache_dir(source: ModelSource) -> Path:
    gguf = Path(source.path) / (source.gguf_file or "")
    return converted_dir() / f"{gguf.stem}-{source_digest(gguf)}"


@contextlib.contextmanager
def _gguf_bar_obeys_transformers() -> Iterator[None]:
    """transformers' GGUF reader draws its "Converting and de-quantizing GGUF tensors" bar with
    `tqdm.auto.tqdm` itself, so `disable_progress_bar()` does not reach it; for the conversion,
    it gets transformers' own tqdm, which honours that switch like every other bar there."""
    from transformers import modeling_gguf_pytorch_utils as gguf_utils
    from transformers.utils import logging

    if not hasattr(gguf_utils, "tqdm"):  # another transformers layout: nothing to reroute
        yield
        return
    with mock.patch.object(gguf_utils, "tqdm", logging.tqdm):
        yield


def _convert_gguf(source: ModelSource, target: Path) -> None:
    """Dequantise a GGUF file into a safetensors folder, atomically."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()  # also the "Loading weights" and "Writing model shards" bars
    tokenizer = AutoTokenizer.from_pretrained(source.path, gguf_file=source.gguf_file)
    with _gguf_bar_obeys_transformers():
        model = AutoModelForCausalLM.from_pretrained(source.path, gguf_file=source.gguf_file)
    model.hf_quantizer = None  # type: ignore[assignment]  # weights are plain tensors now; allow saving them
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)

    write_converted(target, write)


def quiet_transformers() -> None:
    """No per-tensor progress bars from transformers; bakeoff draws its own."""
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()
    # PEFT still calls a transformers method deprecated in v5; nothing for users to act on.
    warnings.filterwarnings(
        "ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning
    )


def local_weights(source: ModelSource) -> str:
    """A folder (or hub id) that `from_pretrained` can load with safetensors."""
    if source.gguf_file is None:
        return source.path
    target = _gguf_cache_dir(source)
    if not (target / "config.json").exists():
        _convert_gguf(source, target)
    return str(target)


def load_pretrained(
    loader: Any, source: ModelSource, *, trust_remote_code: bool = False, **kwargs: Any
) -> Any:
    """`loader.from_pretrained` with bakeoff's safety defaults and a clear error; torch's
    threads are capped at the usable cores before the first computation."""
    configure_threads()
    quiet_transformers()
    where = local_weights(source)
    try:
        return loader.from_pretrained(
            where, use_safetensors=True, trust_remote_code=trust_remote_code, **kwargs
        )
    except (OSError, ValueError) as exc:
        raise BakeoffError(
            f"model '{source.name}': could not load from {where} ({exc}). bakeoff loads "
            "safetensors only (never pickle); convert .bin weights with `safetensors`, "
            "or pass --trust-remote-code if the model needs its own code and you trust it."
        ) from None


def load_tokenizer(source: ModelSource, *, trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    quiet_transformers()
    where = local_weights(source)
    try:
        return AutoTokenizer.from_pretrained(where, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise BakeoffError(
            f"model '{source.name}': no usable tokenizer in {where} ({exc})."
        ) from None

"""Which backend runs a model name: a lazy registry, so the HTTP backend never imports torch.

    smollm2-135m-instruct                     transformers (default; the only one that trains)
    llama.cpp:smollm2-135m-instruct           llama.cpp on the bundled GGUF
    llama.cpp:/models/qwen.Q4_K_M.gguf        llama.cpp on any GGUF file
    llama.cpp:smollm2-135m-instruct:f16       ... re-encoded as F16 once (models/converted.py)
    openai:MODEL@http://127.0.0.1:8080/v1     any OpenAI-compatible server (vLLM, llama.cpp
                                              server, Ollama, hosted APIs)

Each backend's options are a pydantic model with extra="forbid" (BackendOptions below); the
API key is never part of a name or an option, only the name of the environment variable that
holds it.
"""

from __future__ import annotations

import importlib
import re
from typing import Any, Literal

from pydantic import Field, field_validator

from bakeoff.config import StrictModel
from bakeoff.device import DEVICE_PATTERN, resolve_device
from bakeoff.errors import BakeoffError, require_extra
from bakeoff.models.base import LanguageModel

BACKENDS = {
    "transformers": "bakeoff.models.hf:HFCausalLM",
    "llama.cpp": "bakeoff.models.llamacpp:LlamaCppLM",
    "openai": "bakeoff.models.openai_http:OpenAILM",
}
# backend -> (the module it needs, the pyproject extra that installs it)
EXTRAS = {"llama.cpp": ("llama_cpp", "llamacpp"), "openai": ("openai", "openai")}


class BackendOptions(StrictModel):
    threads: int | None = Field(default=None, ge=1, description="llama.cpp: CPU threads.")
    context: int = Field(default=4096, ge=256, description="llama.cpp: context length.")
    concurrency: int = Field(default=4, ge=1, le=256, description="openai: requests in flight.")
    timeout_s: float = Field(default=60.0, gt=0, description="openai: per request.")
    max_retries: int = Field(default=4, ge=0, le=20, description="openai: on 429 / 5xx.")
    api_key_env: str = Field(default="OPENAI_API_KEY", description="openai: env var of the key.")
    api: Literal["completions", "chat"] = Field(
        default="completions", description="openai: endpoint for prompts."
    )
    cache: bool = Field(default=True, description="openai: persistent response cache.")
    top_logprobs: int = Field(
        default=20, ge=1, le=100, description="openai: next-token alternatives asked for."
    )
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        default="auto",
        description="transformers: inference precision (auto: measured on a CPU; bf16 on a "
        "GPU that has it, else fp16).",
    )
    device: str = Field(
        default="auto",
        description="transformers: auto (the first CUDA GPU, else the CPU), cpu, cuda, cuda:N.",
    )

    @field_validator("device")
    @classmethod
    def _a_device(cls, value: str) -> str:
        if not re.match(DEVICE_PATTERN, value):
            raise ValueError(f"'{value}' is not a device — use auto, cpu, cuda or cuda:N")
        return value

    trust_remote_code: bool = False


_USERINFO = re.compile(r"(?<=//)[^/@\s]+@")


def redacted(name: str) -> str:
    """The name with any credentials written into a URL (`//user:key@host`) masked."""
    return _USERINFO.sub("***@", name)


def check_no_url_secrets(name: str) -> None:
    """Keys belong in the environment, not in model names that get stored and shown."""
    if _USERINFO.search(name):
        raise ValueError(
            f"model '{redacted(name)}' has credentials in its URL; they would be stored in "
            "results and reports — remove them and put the key in the environment variable "
            "named by `backend.api_key_env` (default OPENAI_API_KEY)"
        )


LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def remote_endpoint(name: str) -> str | None:
    """The URL a model name sends inputs to when it is not on this machine, else None."""
    from urllib.parse import urlsplit

    backend, rest = split_name(name)
    if backend != "openai":
        return None
    url = rest.partition("@")[2]
    host = urlsplit(url).hostname or ""
    return None if host in LOOPBACK_HOSTS else redacted(url)


def split_name(name: str) -> tuple[str, str]:
    """(backend, model) from a model name."""
    for prefix in ("llama.cpp", "openai"):
        if name.startswith(prefix + ":"):
            return prefix, name[len(prefix) + 1 :]
    return "transformers", name


def load_model(name: str, options: BackendOptions | None = None) -> LanguageModel:
    backend, model = split_name(name)
    if backend in EXTRAS:
        needed, extra = EXTRAS[backend]
        require_extra(needed, extra, f"model '{redacted(name)}'")
    module_name, cls_name = BACKENDS[backend].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BakeoffError(
            f"model '{name}': the {backend} backend needs {exc.name} — run `make install` "
            "(it installs every backend's extra)."
        ) from None
    cls: Any = getattr(module, cls_name)
    options = options or BackendOptions()
    if backend == "transformers":
        return cls.load(
            model,
            trust_remote_code=options.trust_remote_code,
            inference_precision=options.precision,
            device=resolve_device(options.device),
        )
    return cls.load(model, options)

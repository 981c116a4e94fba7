"""Less work per training step, at the same loss (docs/finetuning.md, the training loop).

- **Attention kernel by measurement.** On CPUs, PyTorch's flash-attention kernel is slow for
  the short rows classification trains on (bf16, 36 tokens: forward + backward 11.8 ms against
  3.2 ms for the plain "math" kernel; at 512 tokens flash wins). The loop times both kernels
  once per process for each padded length (rounded up to a power of two, up to 256) and runs
  the faster one; on GPUs and for longer rows the default kernel is kept.
- **LoRA inputs stay in the compute dtype.** PEFT casts each adapter's input to the adapter's
  fp32 weights, and autocast casts it straight back to bf16 for the matmul: two copies of the
  hidden state per adapted module. During the training forward the cast is skipped.
- **One dropout draw per input.** q, k and v read the same hidden state; PEFT draws a dropout
  mask for each. Adapters of one block that read the same tensor share one draw — what LoRA on
  a fused QKV projection gets — so a third of the random numbers are drawn.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch

LONGEST_PROBED = 256  # longer rows keep PyTorch's default kernel (flash: less memory)
_FASTEST: dict[str, str] = {}  # "dtype/rows x heads x length x head dim" -> kernel


def _attention_shape(module: torch.nn.Module) -> tuple[int, int] | None:
    """(heads, head dim) of the module's attention, from the first config found in it (a
    wrapper such as encoder-head's holds the model); None when unknown."""
    for part in module.modules():
        config = getattr(part, "config", None)
        heads = getattr(config, "num_attention_heads", None)
        hidden = getattr(config, "hidden_size", None)
        if heads and hidden:
            return heads, getattr(config, "head_dim", None) or hidden // heads
    return None


def _time_kernel(kernel: str, shape: tuple[int, int, int, int], dtype: torch.dtype) -> float:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backend = SDPBackend.MATH if kernel == "math" else SDPBackend.FLASH_ATTENTION
    with torch.random.fork_rng(devices=[]):  # the run's random numbers stay the run's
        q, k, v = (torch.randn(shape, dtype=dtype, requires_grad=True) for _ in range(3))
    mask = torch.ones(shape[2], shape[2], dtype=torch.bool).tril()
    best = float("inf")
    for _ in range(3):  # the first pays warm-up; the best of the others counts
        start = time.perf_counter()
        with sdpa_kernel(backend):
            out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out.sum().backward()
        best = min(best, time.perf_counter() - start)
    return best


def _kernel_for(
    attention: tuple[int, int] | None, batch: torch.Tensor | None, dtype: torch.dtype
) -> str:
    """The kernel ("math" or "default") a CPU training step on token ids `batch` (B, T) with
    `attention` (heads, head dim) should run; "default" without ids or heads, or for long
    rows."""
    if batch is None or batch.dim() != 2 or attention is None:
        return "default"
    rows, width = batch.shape
    if width > LONGEST_PROBED:
        return "default"
    length = max(32, 1 << (width - 1).bit_length())
    key = f"{dtype}/{rows}x{attention[0]}x{length}x{attention[1]}"
    if key not in _FASTEST:
        shape = (rows, attention[0], length, attention[1])
        try:
            with torch.enable_grad():
                math, flash = (_time_kernel(k, shape, dtype) for k in ("math", "flash"))
            _FASTEST[key] = "math" if math < flash else "default"
        except RuntimeError:  # a kernel this build lacks: keep PyTorch's choice
            _FASTEST[key] = "default"
    return _FASTEST[key]


def chosen_kernels() -> dict[str, str]:
    """The choices made so far in this process (a checkpoint keeps them: a resumed run takes
    the kernels it began with rather than timing them again)."""
    return dict(_FASTEST)


def reuse_kernels(chosen: dict[str, str]) -> None:
    _FASTEST.update(chosen)


class FastSteps:
    """A run's training steps made lighter, prepared once: its LoRA dropouts shared, the layers
    whose input casts a training forward skips, and its attention shape (off a CPU: none, so
    PyTorch's kernel is kept)."""

    def __init__(self, module: torch.nn.Module):
        self.dropouts = share_lora_dropout(module)
        self.cast_layers = [m for m in module.modules() if hasattr(m, "cast_input_dtype_enabled")]
        weights = next(module.parameters(), None)
        on_cpu = weights is None or weights.device.type == "cpu"
        self.attention = _attention_shape(module) if on_cpu else None

    def kernel(self, batch: torch.Tensor | None, dtype: torch.dtype) -> str:
        return _kernel_for(self.attention, batch, dtype)

    @contextmanager
    def forward(self, batch: torch.Tensor | None, dtype: torch.dtype) -> Iterator[str]:
        """The context a training step's forward runs in (it yields the attention kernel): the
        faster kernel, and LoRA inputs left in the compute dtype (restored after: inference
        without autocast needs the cast)."""
        from torch.nn.attention import SDPBackend, sdpa_kernel

        before = [m.cast_input_dtype_enabled for m in self.cast_layers]
        for layer in self.cast_layers:
            setattr(layer, "cast_input_dtype_enabled", False)  # noqa: B010 (a plain attribute)
        try:
            kernel = self.kernel(batch, dtype)
            if kernel == "math":
                with sdpa_kernel(SDPBackend.MATH):
                    yield kernel
            else:
                yield kernel
        finally:
            for layer, value in zip(self.cast_layers, before, strict=True):
                setattr(layer, "cast_input_dtype_enabled", value)  # noqa: B010
            for dropout in self.dropouts:
                dropout.forget()  # a draw serves one forward


class SharedDropout(torch.nn.Module):
    """Dropout that gives every caller passing the same tensor the same draw (q, k and v of a
    block read one hidden state); a new tensor gets a new draw."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p
        self._last: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            self._last = None
            return x
        if self._last is not None and self._last[0] is x:
            return self._last[1]
        out = torch.nn.functional.dropout(x, self.p, training=True)
        self._last = (x, out)
        return out

    def forget(self) -> None:
        self._last = None


def share_lora_dropout(model: torch.nn.Module) -> list[SharedDropout]:
    """Give the LoRA layers of each block one SharedDropout (in place of PEFT's one per
    layer); returns them."""
    shared: dict[int, SharedDropout] = {}
    for name, layer in model.named_modules():
        dropouts = getattr(layer, "lora_dropout", None)
        if not isinstance(dropouts, torch.nn.ModuleDict):
            continue
        parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
        for adapter, dropout in dropouts.items():
            if isinstance(dropout, torch.nn.Dropout) and dropout.p > 0:
                key = id(parent)
                shared.setdefault(key, SharedDropout(dropout.p))
                dropouts[adapter] = shared[key]
    return list(shared.values())

"""llama.cpp label scoring of many rows per `llama_decode`.

A second context on the same weights holds several sequences in one unified KV cache. The
prompts' shared prefix is decoded once into sequence 0 and copied (a copy in a unified cache
only tags the prefix's cells with more sequence ids); each row of a group then gets a sequence
of its own, every multi-token option one more, and one batch decodes them all: the row's
suffix tokens belong to the row's sequence and to each of its options' sequences, an option's
tokens only to its own, so an option sees the prefix, its row's suffix and its own earlier
tokens — what evaluating the row and option on their own would see. Only positions whose logits
are read ask llama.cpp for logits. After the group, its sequences are removed from the cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bakeoff.errors import BakeoffError


@dataclass
class RowPlan:
    request: int
    suffix: list[int]
    options: list[list[int]]

    @property
    def sequences(self) -> int:  # the row's own + one per multi-token option
        return 1 + sum(len(o) > 1 for o in self.options)

    @property
    def tokens(self) -> int:
        return len(self.suffix) + sum(len(o) - 1 for o in self.options)


def pack(needs: list[tuple[int, int]], max_sequences: int, max_tokens: int) -> list[list[int]]:
    """Consecutive rows per decode, given each row's (sequences, tokens), within both limits;
    empty when some row alone exceeds them (the caller then goes one row at a time)."""
    groups: list[list[int]] = []
    current: list[int] = []
    seqs = tokens = 0
    for i, (row_seqs, row_tokens) in enumerate(needs):
        if row_seqs > max_sequences or row_tokens > max_tokens:
            return []
        if current and (seqs + row_seqs > max_sequences or tokens + row_tokens > max_tokens):
            groups.append(current)
            current, seqs, tokens = [], 0, 0
        current.append(i)
        seqs += row_seqs
        tokens += row_tokens
    if current:
        groups.append(current)
    return groups


def logprobs_at(ctx: Any, index: int, n_vocab: int) -> np.ndarray:
    """Next-token log-probabilities from the logits llama.cpp kept for batch position `index`
    (-1: the last), in float64."""
    import llama_cpp

    pointer = llama_cpp.llama_get_logits_ith(ctx, index)
    logits = np.ctypeslib.as_array(pointer, shape=(n_vocab,)).astype(np.float64)
    shifted = logits - logits.max()
    return shifted - np.log(np.exp(shifted).sum())


class ParallelScorer:
    """Scores groups of rows in one decode each, on its own context of `llm`'s weights."""

    def __init__(self, llm: Any, *, sequences: int = 32, batch_tokens: int = 1024):
        import llama_cpp
        from llama_cpp import _internals

        self.llama_cpp = llama_cpp
        self.sequences = min(sequences, int(llama_cpp.llama_max_parallel_sequences()))
        self.batch_tokens = batch_tokens
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = llm.n_ctx() + batch_tokens  # the prefix plus one group's rows
        params.n_batch = params.n_ubatch = batch_tokens
        params.n_seq_max = self.sequences
        params.kv_unified = True  # cells shared by sequences: prefix copies cost nothing
        params.n_threads = llm.context_params.n_threads
        params.n_threads_batch = llm.context_params.n_threads_batch
        self.n_vocab = llm.n_vocab()
        self.context = _internals.LlamaContext(model=llm._model, params=params, verbose=False)
        self.batch = _internals.LlamaBatch(
            n_tokens=batch_tokens, embd=0, n_seq_max=self.sequences, verbose=False
        )

    @property
    def max_prefix(self) -> int:
        return self.context.n_ctx() - self.batch_tokens

    def score(
        self, prefix: list[int], rows: list[RowPlan], progress: Any = None
    ) -> list[list[float]] | None:
        """Summed log-probabilities of each row's options, or None when some row does not fit
        a decode (too many multi-token options or tokens): the caller goes row by row."""
        needs = [(row.sequences, row.tokens) for row in rows]
        groups = pack(needs, self.sequences - 1, self.batch_tokens)
        if not groups or len(prefix) > self.max_prefix:
            return None
        self._load_prefix(prefix)
        out: dict[int, list[float]] = {}
        for group in groups:
            out.update(self._score_group(len(prefix), [rows[i] for i in group]))
            if progress:
                progress(len(group))
        return [out[row.request] for row in rows]

    def _load_prefix(self, prefix: list[int]) -> None:
        """An empty cache, then the prefix decoded once into sequence 0."""
        self.llama_cpp.llama_memory_clear(self.context.memory, True)
        for start in range(0, len(prefix), self.batch_tokens):
            chunk = prefix[start : start + self.batch_tokens]
            self._fill([(t, start + i, (0,), False) for i, t in enumerate(chunk)])
            self._decode()

    def _score_group(self, shared: int, group: list[RowPlan]) -> dict[int, list[float]]:
        api, memory = self.llama_cpp, self.context.memory
        entries: list[tuple[int, int, tuple[int, ...], bool]] = []
        reads: list[tuple[int, int, int, int]] = []  # (request, option, batch index, token)
        next_seq = 1  # sequence 0 holds the prefix
        for row in group:
            own = next_seq  # the row's sequence, then one per multi-token option
            option_seq: dict[int, int] = {}
            for j, option in enumerate(row.options):
                if len(option) > 1:
                    option_seq[j] = own + 1 + len(option_seq)
            seqs = (own, *option_seq.values())
            next_seq += len(seqs)
            if shared:
                for seq in seqs:
                    api.llama_memory_seq_cp(memory, 0, seq, 0, shared)
            last = len(entries) + len(row.suffix) - 1
            for i, token in enumerate(row.suffix):
                entries.append((token, shared + i, seqs, i == len(row.suffix) - 1))
            start = shared + len(row.suffix)
            for j, option in enumerate(row.options):
                reads.append((row.request, j, last, option[0]))
                for k, token in enumerate(option[:-1]):  # the last token is only read
                    reads.append((row.request, j, len(entries), option[k + 1]))
                    entries.append((token, start + k, (option_seq[j],), True))
        self._fill(entries)
        self._decode()
        logprobs: dict[int, np.ndarray] = {}
        sums = {row.request: [0.0] * len(row.options) for row in group}
        for request, j, index, token in reads:
            if index not in logprobs:
                logprobs[index] = logprobs_at(self.context.ctx, index, self.n_vocab)
            sums[request][j] += float(logprobs[index][token])
        for seq in range(1, next_seq):
            api.llama_memory_seq_rm(memory, seq, -1, -1)
        return sums

    def _fill(self, entries: list[tuple[int, int, tuple[int, ...], bool]]) -> None:
        """The batch: (token, position, sequence ids, logits wanted) per entry."""
        batch = self.batch.batch
        batch.n_tokens = len(entries)
        for i, (token, position, seqs, wanted) in enumerate(entries):
            batch.token[i] = token
            batch.pos[i] = position
            batch.n_seq_id[i] = len(seqs)
            for k, seq in enumerate(seqs):
                batch.seq_id[i][k] = seq
            batch.logits[i] = wanted

    def _decode(self) -> None:
        status = self.llama_cpp.llama_decode(self.context.ctx, self.batch.batch)
        if status != 0:
            raise BakeoffError(f"llama.cpp: llama_decode failed (status {status})")

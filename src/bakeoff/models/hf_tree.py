"""Scoring many multi-token options at once: each row's options as one token tree.

Options that share leading tokens (Banking77's 77 intents: `card_arrival`, `card_linking`, …)
are read from a prefix tree. A row becomes one sequence: its prompt suffix, then every tree node
that some option continues from (a node only ever ends an option is never run: nothing reads its
logits). A 4D attention mask lets each node see the shared prefix, the row's suffix and its own
ancestors, and each node sits at the position its depth gives it — so the logits are those of
running every option after the prompt on its own (tree attention, as in SpecInfer / Medusa).
Only the positions that predict an option token go through the LM head.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class OptionTree:
    """The nodes that some option continues from, as run after a row's suffix.

    `node_tokens[n]` is node n's token, `node_depth[n]` its depth (1 = first option token) and
    `ancestors[n, m]` whether node m is node n or one of its ancestors. `reads[j]` lists, for
    option j, (node that predicts the token, token): node −1 is the suffix's last token.
    """

    node_tokens: tuple[int, ...]
    node_depth: torch.Tensor  # (N,) long
    ancestors: torch.Tensor  # (N, N) bool
    reads: tuple[tuple[tuple[int, int], ...], ...]


@functools.lru_cache(maxsize=64)
def option_tree(options: tuple[tuple[int, ...], ...]) -> OptionTree:
    index: dict[tuple[int, ...], int] = {}  # proper prefix of an option -> node
    parents: list[int] = []
    tokens: list[int] = []
    reads = []
    for option in options:
        read = []
        for k, token in enumerate(option):
            read.append((index[option[:k]] if k else -1, token))
            if k < len(option) - 1 and option[: k + 1] not in index:
                index[option[: k + 1]] = len(tokens)
                parents.append(index[option[:k]] if k else -1)
                tokens.append(token)
        reads.append(tuple(read))
    n = len(tokens)
    ancestors = torch.eye(n, dtype=torch.bool)
    depth = torch.ones(n, dtype=torch.long)
    for node, parent in enumerate(parents):  # parents come before their children
        if parent >= 0:
            ancestors[node] |= ancestors[parent]
            depth[node] = depth[parent] + 1
    return OptionTree(tuple(tokens), depth, ancestors, tuple(reads))


@dataclass
class TreeItem:
    request: int
    suffix: list[int]  # the row's prompt after the shared prefix
    tree: OptionTree

    @property
    def width(self) -> int:
        return len(self.suffix) + len(self.tree.node_tokens)


@dataclass(frozen=True)
class TreeBatch:
    input_ids: torch.Tensor  # (B, W)
    position_ids: torch.Tensor  # (B, W)
    allowed: torch.Tensor  # (B, W, shared + W) bool: query may attend to key


def tree_batch(batch: list[TreeItem], shared: int, pad_id: int) -> TreeBatch:
    width = max(item.width for item in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    positions = torch.zeros((len(batch), width), dtype=torch.long)
    allowed = torch.zeros((len(batch), width, shared + width), dtype=torch.bool)
    allowed[:, :, :shared] = True
    # every query sees itself (padding too: a query that sees nothing gives NaN in attention)
    allowed[:, :, shared:] |= torch.eye(width, dtype=torch.bool)
    for row, item in enumerate(batch):
        s, n = len(item.suffix), len(item.tree.node_tokens)
        ids[row, :s] = torch.tensor(item.suffix)
        ids[row, s : s + n] = torch.tensor(item.tree.node_tokens, dtype=torch.long)
        positions[row, :s] = torch.arange(shared, shared + s)
        positions[row, s : s + n] = shared + s - 1 + item.tree.node_depth
        allowed[row, :s, shared : shared + s] = torch.ones(s, s, dtype=torch.bool).tril()
        allowed[row, s : s + n, shared : shared + s] = True
        allowed[row, s : s + n, shared + s : shared + s + n] = item.tree.ancestors
    return TreeBatch(ids, positions, allowed)


def additive_mask(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, 1, Q, K): 0 where attention is allowed, the dtype's minimum elsewhere."""
    mask = torch.zeros(allowed.shape, dtype=dtype)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[:, None]


Head = Callable[[torch.Tensor], torch.Tensor]  # hidden states (n, C) -> logits (n, V)


def tree_logprobs(hidden: torch.Tensor, head: Head, batch: list[TreeItem]) -> list[list[float]]:
    """Summed log-probability of each option of each item, from the batch's hidden states
    (or logits, with `head` the identity). Only reading positions pass through `head`."""
    rows: list[int] = []
    cols: list[int] = []
    at: dict[tuple[int, int], int] = {}
    picks: list[tuple[int, int, int, int]] = []  # (read index, token, item, option)
    for row, item in enumerate(batch):
        s = len(item.suffix)
        for j, read in enumerate(item.tree.reads):
            for node, token in read:
                col = s - 1 if node < 0 else s + node
                if (row, col) not in at:
                    at[(row, col)] = len(rows)
                    rows.append(row)
                    cols.append(col)
                picks.append((at[(row, col)], token, row, j))
    at_device = functools.partial(torch.tensor, device=hidden.device)
    logits = head(hidden[at_device(rows), at_device(cols)])
    logprobs = torch.log_softmax(logits.float(), -1)
    taken = logprobs[at_device([p[0] for p in picks]), at_device([p[1] for p in picks])]
    sums: list[list[float]] = [[0.0] * len(item.tree.reads) for item in batch]
    for (_, _, row, j), value in zip(picks, taken.tolist(), strict=True):
        sums[row][j] += value
    return sums


def tree_items(
    suffixes: Sequence[list[int]], options: Sequence[tuple[tuple[int, ...], ...]]
) -> list[TreeItem]:
    return [
        TreeItem(i, suffix, option_tree(opts))
        for i, (suffix, opts) in enumerate(zip(suffixes, options, strict=True))
    ]

"""encoder-head's few-shot aids: same-label concatenation and the in-batch pair loss."""

from __future__ import annotations

import pytest
import torch

from bakeoff.finetuning.augment import concatenate_same_label
from bakeoff.finetuning.config import EncoderHeadSettings
from bakeoff.finetuning.encoder_head import pair_similarity_loss
from bakeoff.task.example import Example


def rows() -> list[Example]:
    texts = {"pos": ["great", "lovely film", "a joy"], "neg": ["dull", "a mess"], "odd": ["meh"]}
    return [
        Example(f"f.jsonl:{label}{i}", text, label)
        for label, items in texts.items()
        for i, text in enumerate(items)
    ]


def test_concatenation_keeps_labels_and_pairs_different_rows() -> None:
    originals = rows()
    extra = concatenate_same_label(originals, per_row=2, seed=0)
    # two per row for the labels with a partner; "odd" has a single row and gets none
    assert len(extra) == 2 * 5
    by_text = {ex.text: ex for ex in originals}
    for ex in extra:
        assert ex.label != "odd"
        first = next(o for o in originals if ex.id.startswith(o.id + "+"))
        assert ex.label == first.label
        assert ex.text.startswith(first.text + " ")
        partner = by_text[ex.text[len(first.text) + 1 :]]
        assert partner.label == ex.label and partner is not first
    assert len({ex.id for ex in extra}) == len(extra)  # ids stay unique
    assert extra == concatenate_same_label(originals, per_row=2, seed=0)  # seeded
    assert concatenate_same_label(originals, per_row=0, seed=0) == []


def test_pair_loss_is_zero_for_separated_classes_and_counts_every_pair() -> None:
    labels = torch.tensor([0, 0, 1, 1])
    separated = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert float(pair_similarity_loss(separated, labels)) == pytest.approx(0.0)
    # every row the same vector: the 4 cross-label pairs of 6 miss their target 0 by 1
    collapsed = torch.tensor([[1.0, 0.0]] * 4)
    assert float(pair_similarity_loss(collapsed, labels)) == pytest.approx(4 / 6)
    embeddings = torch.nn.functional.normalize(torch.randn(4, 3), dim=-1).requires_grad_(True)
    pair_similarity_loss(embeddings, labels).backward()
    assert embeddings.grad is not None and bool(embeddings.grad.abs().sum() > 0)


def test_concatenation_is_on_by_default_only_with_few_labels_per_class() -> None:
    auto = EncoderHeadSettings()
    assert auto.concat_copies({"pos": 64, "neg": 64}) == 1
    assert auto.concat_copies({"pos": 500, "neg": 128}) == 1  # the smallest class decides
    assert auto.concat_copies({"pos": 500, "neg": 442}) == 0
    assert EncoderHeadSettings(concat_augment=2).concat_copies({"pos": 500}) == 2
    for bad in (-1, 9, "sometimes"):
        with pytest.raises(ValueError):
            EncoderHeadSettings(concat_augment=bad)
    with pytest.raises(ValueError):
        EncoderHeadSettings(pair_loss_weight=-0.5)

"""Label-preserving augmentation for few-shot classifiers.

`concatenate_same_label` joins a row's text to another row of the same label. On SST-2 the
labelled rows are short phrases and the rows to classify are whole sentences; joined rows teach
the pooled embedding to hold the label over longer inputs. With 64 labels per class it lifted
MiniLM encoder-head from 78.1% to 79.0% on held-out long rows and cut the spread over samples
from 2.7 to 0.4 points (docs/finetuning.md).
"""

from __future__ import annotations

import dataclasses
import random

from bakeoff.task.example import Example


def concatenate_same_label(rows: list[Example], per_row: int, seed: int) -> list[Example]:
    """`per_row` extra rows for each row: its text, a space, a different same-label row's text.

    Classes with a single row get no extra rows (there is nothing to pair it with).
    """
    rng = random.Random(seed)
    by_label: dict[str, list[Example]] = {}
    for ex in rows:
        by_label.setdefault(ex.label or "", []).append(ex)
    pairable = {label for label, same in by_label.items() if len({id(x) for x in same}) > 1}
    extra: list[Example] = []
    for copy in range(per_row):
        for ex in rows:
            if (ex.label or "") not in pairable:
                continue
            same = by_label[ex.label or ""]
            partner = ex
            while partner is ex:  # another row of the label (a duplicate text is fine)
                partner = same[rng.randrange(len(same))]
            extra.append(
                dataclasses.replace(ex, id=f"{ex.id}+{copy}", text=f"{ex.text} {partner.text}")
            )
    return extra

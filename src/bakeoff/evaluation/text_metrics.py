"""Per-row generation metrics against several references: EM, token F1, ROUGE-L, BLEU stats."""

from __future__ import annotations

import math
import re
import string
from collections import Counter

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = _ARTICLES.sub(" ", text.lower().translate(_PUNCT))
    return " ".join(text.split())


def exact_match(prediction: str, references: tuple[str, ...]) -> float:
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(ref) for ref in references))


def _f1(pred_tokens: list[str], ref_tokens: list[str]) -> float:
    common = Counter(pred_tokens) & Counter(ref_tokens)
    same = sum(common.values())
    if not pred_tokens or not ref_tokens:
        return float(pred_tokens == ref_tokens)
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(ref_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, references: tuple[str, ...]) -> float:
    pred = normalize_answer(prediction).split()
    return max(_f1(pred, normalize_answer(ref).split()) for ref in references)


def _lcs(a: list[str], b: list[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, start=1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(prediction: str, references: tuple[str, ...]) -> float:
    pred = prediction.lower().split()
    best = 0.0
    for ref in references:
        ref_tokens = ref.lower().split()
        lcs = _lcs(pred, ref_tokens)
        if lcs:
            p, r = lcs / len(pred), lcs / len(ref_tokens)
            best = max(best, 2 * p * r / (p + r))
    return best


# --- BLEU: sacrebleu's 13a tokenisation, corpus-level from per-row sufficient statistics ---
_TOK_13A = [
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),
]


def tokenize_13a(text: str) -> list[str]:
    text = text.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in text:
        text = text.replace("&quot;", '"').replace("&amp;", "&")
        text = text.replace("&lt;", "<").replace("&gt;", ">")
    text = f" {text} "
    for pattern, repl in _TOK_13A:
        text = pattern.sub(repl, text)
    return text.split()


def _ngrams(tokens: list[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def bleu_stats(prediction: str, references: tuple[str, ...], order: int = 4) -> list[float]:
    """[hyp_len, closest_ref_len, matches_1..4, totals_1..4] for one row."""
    hyp = tokenize_13a(prediction)
    refs = [tokenize_13a(r) for r in references]
    ref_len = min((abs(len(r) - len(hyp)), len(r)) for r in refs)[1]
    stats: list[float] = [len(hyp), ref_len]
    matches, totals = [], []
    for n in range(1, order + 1):
        hyp_counts = _ngrams(hyp, n)
        best: Counter[tuple[str, ...]] = Counter()
        for r in refs:
            best |= _ngrams(r, n)
        matches.append(sum((hyp_counts & best).values()))
        totals.append(max(len(hyp) - n + 1, 0))
    return stats + matches + totals


def corpus_bleu(stats_rows: list[list[float]] | object, order: int = 4) -> float:
    """BLEU (0-100) from summed per-row statistics; sacrebleu's exp smoothing off."""
    import numpy as np

    total = np.asarray(stats_rows, dtype=float).sum(axis=0)
    hyp_len, ref_len = total[0], total[1]
    matches, totals = total[2 : 2 + order], total[2 + order : 2 + 2 * order]
    if hyp_len == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals, strict=True)) / order
    brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return 100 * brevity * math.exp(log_precision)

"""The llama.cpp backend (llama-cpp-python) for GGUF models: label scoring from the model's
own logits, generation, the GGUF's chat template (rendered in our sandbox), thread control.

    bakeoff run --task examples/sst2/task.yaml --model llama.cpp:smollm2-135m-instruct ...

Scoring decodes many rows at once (llamacpp_batch.py): the prompts' shared prefix once, then
each group of rows — every row and each of its multi-token options a sequence of one unified
KV cache — in one `llama_decode`; only the positions whose logits are read compute them (the LM
head is a fifth of a small model). Rows that do not fit a decode (many multi-token options) go
one at a time in the main context, each evaluated from the first token where it differs from
what the cache holds, multi-token options one token at a time and then rolled back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bakeoff.cores import available_cores
from bakeoff.errors import BakeoffError
from bakeoff.models.backends import BackendOptions
from bakeoff.models.base import (
    Generation,
    OptionScores,
    Progress,
    ScoreRequest,
    common_prefix_length,
    cut_at_stop,
)
from bakeoff.models.converted import reencoded_gguf, split_gguf_type
from bakeoff.models.llamacpp_batch import logprobs_at
from bakeoff.models.registry import resolve
from bakeoff.task.output import OutputSpec
from bakeoff.templating import render_template

# a JSON string's character: not a quote, backslash, DEL or control character; or an escape
JSON_CHAR_RULE = (
    r'char ::= [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] '
    r"[0-9a-fA-F] [0-9a-fA-F])"
)


def gguf_path(name: str) -> Path:
    """The GGUF file a llama.cpp model name runs: `NAME` as it is, `NAME:f16` (or `:bf16`,
    `:q8_0`, `:f32`) re-encoded once by llama.cpp and cached (models/converted.py)."""
    base, gguf_type = split_gguf_type(name)
    source = resolve(base, kind="causal")
    if source.gguf_file is None:
        raise BakeoffError(
            f"model 'llama.cpp:{name}': llama.cpp needs a GGUF file — give a .gguf path or a "
            "bundled model that ships one (see `bakeoff models`)."
        )
    path = Path(source.path) / source.gguf_file
    return path if gguf_type is None else reencoded_gguf(path, gguf_type)


class LlamaCppLM:
    # its JSON-Schema converter puts at most one optional space after a token, so a
    # constrained decode gets the budget its shape fits in, doubled (the converter ignores an
    # integer's minimum/maximum: there the bound may not hold; never below max_new_tokens)
    shape_spaced = True

    def __init__(self, llm: Any, name: str):
        self.llm = llm
        self.name = name
        self.n_parameters = int(_n_params(llm))
        meta = llm.metadata or {}
        self.chat_template = meta.get("tokenizer.chat_template")
        self._bos = self._token_text(llm.token_bos())
        self._eos = self._token_text(llm.token_eos())
        self.parallel = True  # score many rows per decode (off: one row at a time)
        self._parallel: Any = None  # its context, made on first use

    @classmethod
    def load(cls, name: str, options: BackendOptions) -> LlamaCppLM:
        from llama_cpp import Llama

        path = gguf_path(name)
        threads = options.threads or available_cores()
        llm = Llama(
            model_path=str(path),
            n_ctx=options.context,
            n_threads=threads,
            n_threads_batch=threads,
            logits_all=False,  # only the last position's logits: the LM head is 20% of this model
            verbose=False,
            seed=0,
        )
        return cls(llm, f"llama.cpp:{name}")

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self.llm.detokenize([token], special=True).decode("utf-8", errors="ignore")

    # --- text <-> tokens -------------------------------------------------------------
    @property
    def has_chat_template(self) -> bool:
        return bool(self.chat_template)

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        if not self.chat_template:
            raise BakeoffError(f"model '{self.name}': its GGUF has no chat template.")
        return render_template(
            self.chat_template,
            {
                "messages": messages,
                "add_generation_prompt": True,
                "bos_token": self._bos,
                "eos_token": self._eos,
            },
        )

    def encode_prompt(self, text: str) -> list[int]:
        add_bos = not (self._bos and text.startswith(self._bos))
        return list(self.llm.tokenize(text.encode(), add_bos=add_bos, special=True))

    def encode_continuation(self, text: str) -> list[int]:
        return list(self.llm.tokenize(text.encode(), add_bos=False, special=False))

    def count_tokens(self, text: str) -> int:
        return len(self.encode_prompt(text))

    # --- scoring ---------------------------------------------------------------------
    def _eval(self, tokens: list[int]) -> None:
        """Make the context hold exactly `tokens`, evaluating only what the cache lacks."""
        llm = self.llm
        if len(tokens) > llm.n_ctx():
            raise BakeoffError(
                f"model '{self.name}': a prompt of {len(tokens)} tokens exceeds the context "
                f"({llm.n_ctx()}); raise the `context` option or use fewer demos."
            )
        held = llm.input_ids[: llm.n_tokens]
        common = 0
        limit = min(len(held), len(tokens))
        while common < limit and held[common] == tokens[common]:
            common += 1
        common = min(common, len(tokens) - 1)  # re-run the last token: its logits are needed
        llm.n_tokens = common  # llama-cpp drops the KV cache past n_tokens on the next eval
        llm.eval(tokens[common:])

    def _last_logprobs(self) -> np.ndarray:
        """Log-probabilities of the next token after what the context holds."""
        return logprobs_at(self.llm.ctx, -1, self.llm.n_vocab())

    def score(
        self, requests: Sequence[ScoreRequest], progress: Progress | None = None
    ) -> list[OptionScores]:
        prompts = [self.encode_prompt(r.prompt) for r in requests]
        option_ids: dict[str, list[int]] = {}
        for r in requests:
            for option in r.options:
                ids = option_ids.setdefault(option, self.encode_continuation(option))
                if not ids:
                    raise ValueError(f"option {option!r} encodes to no tokens")
        options = [[option_ids[o] for o in r.options] for r in requests]
        logprobs = self._score_parallel(prompts, options, progress) if self.parallel else None
        if logprobs is None:
            logprobs = self._score_one_by_one(prompts, options, progress)
        return [
            OptionScores(tuple(lps), tuple(len(ids) for ids in opts), len(prompt))
            for lps, opts, prompt in zip(logprobs, options, prompts, strict=True)
        ]

    def _score_parallel(
        self, prompts: list[list[int]], options: list[list[list[int]]], progress: Progress | None
    ) -> list[list[float]] | None:
        """Many rows per decode (llamacpp_batch.py); None where the rows do not fit one."""
        from bakeoff.models.llamacpp_batch import RowPlan

        shared = common_prefix_length(prompts)
        rows = [
            RowPlan(i, prompt[shared:], opts)
            for i, (prompt, opts) in enumerate(zip(prompts, options, strict=True))
        ]
        return self._parallel_scorer().score(prompts[0][:shared], rows, progress)

    def _parallel_scorer(self) -> Any:
        from bakeoff.models.llamacpp_batch import ParallelScorer

        if self._parallel is None:
            self._parallel = ParallelScorer(self.llm)
        return self._parallel

    def _score_one_by_one(
        self, prompts: list[list[int]], options: list[list[list[int]]], progress: Progress | None
    ) -> list[list[float]]:
        """Each row in the main context, reusing whatever prefix its cache holds; multi-token
        options one token at a time after the prompt."""
        out = []
        for prompt, opts in zip(prompts, options, strict=True):
            self._eval(prompt)
            last = self._last_logprobs()
            logprobs = []
            for ids in opts:
                total = float(last[ids[0]])
                for k in range(1, len(ids)):
                    self._eval(prompt + ids[:k])
                    total += float(self._last_logprobs()[ids[k]])
                logprobs.append(total)
            out.append(logprobs)
            if progress:
                progress(1)
        return out

    def next_tokens(self, prompts: Sequence[str], top_k: int) -> list[dict[str, float]]:
        out = []
        for prompt in prompts:
            self._eval(self.encode_prompt(prompt))
            logprobs = self._last_logprobs()
            best = np.argsort(-logprobs)[:top_k]
            out.append({self._token_text(int(t)): float(logprobs[t]) for t in best})
        return out

    # --- generation ------------------------------------------------------------------
    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_new_tokens: int,
        stop: Sequence[str] = (),
        temperature: float = 0.0,
        seed: int = 0,
        progress: Progress | None = None,
        constraint: OutputSpec | None = None,
    ) -> list[Generation]:
        results = []
        eos = self.llm.token_eos()
        grammar = llama_grammar(constraint) if constraint is not None else None
        stop = () if constraint is not None else stop  # the shape ends the output
        for prompt in prompts:
            tokens = self.encode_prompt(prompt)
            if temperature > 0:
                self.llm.set_seed(seed)
            produced: list[int] = []
            text = ""
            # llama-cpp's generate reuses the cached prefix itself and evaluates only the rest
            sampling = {"temp": temperature, "top_k": 0, "top_p": 1.0, "min_p": 0.0}
            for token in self.llm.generate(tokens, grammar=grammar, **sampling):
                if token == eos or len(produced) >= max_new_tokens:
                    break
                produced.append(token)
                text = self.llm.detokenize(produced).decode("utf-8", errors="ignore")
                text, stopped = cut_at_stop(text, stop)
                if stopped:
                    break
            results.append(Generation(text, len(tokens), len(produced)))
            if progress:
                progress(1)
        return results


def llama_grammar(shape: OutputSpec) -> Any:
    """llama.cpp's own grammar for a JSON Schema or a closed set; a regex it cannot take."""
    import json

    from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

    if shape.json_schema is not None:
        gbnf = json_schema_to_gbnf(json.dumps(shape.json_schema))
        # llama-cpp-python's `char` lets raw control characters into strings (JSON forbids
        # them; a newline came through on SQuAD): the rule of llama.cpp's own converter
        gbnf = re.sub(r"^char ::= .*$", lambda _: JSON_CHAR_RULE, gbnf, flags=re.MULTILINE)
        return LlamaGrammar.from_string(gbnf, verbose=False)
    if shape.choices is not None:
        options = " | ".join(json.dumps(choice) for choice in shape.choices)  # GBNF literals
        return LlamaGrammar.from_string(f"root ::= {options}", verbose=False)
    raise BakeoffError(
        "the llama.cpp backend cannot enforce an `output.regex` (its grammars take JSON Schema "
        "and GBNF) — use the transformers backend, or declare `json_schema` or `choices`"
    )


def _n_params(llm: Any) -> int:
    import llama_cpp

    return int(llama_cpp.llama_model_n_params(llm.model))

"""Read rows from JSONL, CSV, Parquet or a Hugging Face dataset, keeping where each came from.

JSONL and CSV are parsed line by line so every problem names its line; Parquet and
`datasets` directories go through Hugging Face `datasets` (rows are numbered from 1).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bakeoff.errors import BakeoffError, Problem


@dataclass(frozen=True)
class RawRow:
    file: str
    line: int
    record: dict[str, Any]


@dataclass
class ReadResult:
    rows: list[RawRow]
    problems: list[Problem]


def _decode_lines(path: Path) -> tuple[list[tuple[int, str]], list[Problem]]:
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BakeoffError(
            f"{path}: the file is UTF-16 encoded — re-save it as UTF-8 "
            "(e.g. `iconv -f UTF-16 -t UTF-8 in > out`)."
        )
    lines: list[tuple[int, str]] = []
    problems: list[Problem] = []
    for number, chunk in enumerate(raw.split(b"\n"), start=1):
        try:
            lines.append((number, chunk.decode("utf-8").rstrip("\r")))
        except UnicodeDecodeError as exc:
            problems.append(
                Problem(
                    str(path),
                    number,
                    None,
                    f"not valid UTF-8 (byte {exc.start} of the line)",
                    "re-save the file as UTF-8",
                )
            )
    return lines, problems


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are unique: `{"label": "a", "label": "b"}` keeps one silently."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _read_jsonl(path: Path) -> ReadResult:
    lines, problems = _decode_lines(path)
    rows: list[RawRow] = []
    for number, text in lines:
        if not text.strip():
            continue
        try:
            record = json.loads(text, object_pairs_hook=_unique_keys)
        except _DuplicateKey as exc:
            problems.append(
                Problem(
                    str(path),
                    number,
                    exc.key,
                    "the key appears twice in this object (JSON keeps only the last)",
                    "keep one of them",
                )
            )
            continue
        except json.JSONDecodeError as exc:
            problems.append(
                Problem(
                    str(path),
                    number,
                    None,
                    f"not valid JSON ({exc.msg} at column {exc.colno})",
                    "fix the line or remove it; each line must be one JSON object",
                )
            )
            continue
        if not isinstance(record, dict):
            problems.append(
                Problem(
                    str(path),
                    number,
                    None,
                    f"expected a JSON object, got {type(record).__name__}",
                    'write one object per line, e.g. {"text": "...", "label": "..."}',
                )
            )
            continue
        rows.append(RawRow(str(path), number, record))
    return ReadResult(rows, problems)


def _read_csv(path: Path) -> ReadResult:
    lines, problems = _decode_lines(path)
    text = "\n".join(line for _, line in lines)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows: list[RawRow] = []
    try:
        header = next(reader)
    except StopIteration:
        return ReadResult(rows, problems)
    except csv.Error as exc:
        raise BakeoffError(
            f"{path}:1: unreadable CSV header ({exc}) — fix the first line."
        ) from None
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(
                Problem(
                    str(path), reader.line_num, None, f"unreadable CSV ({exc})", "fix the quoting"
                )
            )
            continue
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            problems.append(
                Problem(
                    str(path),
                    reader.line_num,
                    None,
                    f"{len(values)} columns where the header has {len(header)}",
                    "quote values that contain the delimiter, or fix the row",
                )
            )
            continue
        rows.append(RawRow(str(path), reader.line_num, dict(zip(header, values, strict=True))))
    return ReadResult(rows, problems)


def _rows_from_dataset(dataset: Any, name: str) -> list[RawRow]:
    """Rows of a `datasets.Dataset`; ClassLabel integers become their names."""
    from datasets import ClassLabel

    label_columns = {
        col: feat for col, feat in dataset.features.items() if isinstance(feat, ClassLabel)
    }
    rows = []
    for index, record in enumerate(dataset, start=1):
        for col, feat in label_columns.items():
            if isinstance(record.get(col), int) and record[col] >= 0:
                record[col] = feat.int2str(record[col])
        rows.append(RawRow(name, index, dict(record)))
    return rows


def _read_parquet(path: Path) -> ReadResult:
    from datasets import Dataset

    try:
        dataset = Dataset.from_parquet(str(path))
    except Exception as exc:  # pyarrow raises many types for a broken file
        raise BakeoffError(f"{path}: unreadable Parquet file ({exc}) — re-export it.") from None
    return ReadResult(_rows_from_dataset(dataset, str(path)), [])


def read_rows(path: Path) -> ReadResult:
    """All rows of one data file, with the problems met while parsing it."""
    if not path.exists():
        raise BakeoffError(f"{path}: data file not found — check the path in the task file.")
    if path.is_dir():
        raise BakeoffError(f"{path}: is a folder — point at a .jsonl, .csv or .parquet file.")
    if not path.is_file():  # a FIFO, a device (or a link to one, e.g. /dev/zero): would hang
        raise BakeoffError(
            f"{path}: not a regular file (a pipe or a device) — copy the data into a file."
        )
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".json", ".ndjson"}:
        result = _read_jsonl(path)
    elif suffix in {".csv", ".tsv"}:
        result = _read_csv(path)
    elif suffix == ".parquet":
        result = _read_parquet(path)
    else:
        raise BakeoffError(
            f"{path}: unknown data format '{suffix}' — use .jsonl, .csv, .tsv or .parquet."
        )
    if not result.rows and not result.problems:
        raise BakeoffError(f"{path}: the file has no rows — add data or point at another file.")
    return result


def read_hf_dataset(source: str, splits: dict[str, str]) -> dict[str, ReadResult]:
    """Splits of a Hugging Face dataset: a local `save_to_disk` folder or a hub id."""
    import datasets

    try:
        if Path(source).is_dir():
            loaded = datasets.load_from_disk(source)
        else:
            loaded = datasets.load_dataset(source)
    except Exception as exc:  # offline hub lookups, missing folders, broken files
        raise BakeoffError(
            f"hf_dataset '{source}': could not load ({type(exc).__name__}: {exc}) — give a "
            "folder written by `Dataset.save_to_disk` or a hub id reachable from here."
        ) from None
    if not isinstance(loaded, datasets.DatasetDict):
        loaded = datasets.DatasetDict({"train": loaded})
    out = {}
    for ours, theirs in splits.items():
        if theirs in loaded:
            out[ours] = ReadResult(_rows_from_dataset(loaded[theirs], f"{source}[{theirs}]"), [])
    if "train" not in out:
        raise BakeoffError(
            f"hf_dataset '{source}': no split '{splits.get('train')}' (has "
            f"{sorted(loaded)}) — map it with `hf_splits: {{train: NAME}}`."
        )
    return out

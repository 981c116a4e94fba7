"""Money: one-off cost (adapting), per-request cost, and total cost of ownership by volume.

    one_off      = adapt seconds × hourly price of the device it ran on
    per_request  = seconds per row × hourly price + tokens × API token prices
    TCO(volume)  = one_off × (1 + retrainings in the horizon) + volume × horizon × per_request

The break-even volume of a candidate that costs more up front but less per request (a tuned
model with a short prompt) against one that is cheap up front but pays for its demos on every
request (few-shot) is where their TCO lines cross — the T-Few argument, measured.
"""

from __future__ import annotations

import math
from typing import Any

from bakeoff.cost.ledger import Usage
from bakeoff.pricing import Constraints, Prices


def hourly_price(prices: Prices, device: str) -> float:
    return prices.gpu_hour_usd if device.startswith("cuda") else prices.cpu_hour_usd


def run_costs(usage: Usage, training: dict[str, Any] | None, prices: Prices) -> dict[str, float]:
    """The money side of one run's ledger."""
    hourly = hourly_price(prices, usage.device)
    seconds_per_row = usage.latency_ms_per_row / 1000
    tokens = (
        usage.prompt_tokens_per_row * prices.input_per_1m_tokens_usd
        + usage.output_tokens_per_row * prices.output_per_1m_tokens_usd
    ) / 1e6
    return {
        "one_off_usd": usage.adapt_seconds / 3600 * hourly,
        "per_request_usd": seconds_per_row / 3600 * hourly + tokens,
        "adapt_seconds": usage.adapt_seconds,
        "latency_ms": usage.latency_ms_per_row,
        "prompt_tokens": usage.prompt_tokens_per_row,
        "flops_per_request": usage.flops_per_row,
        "training_flops": (training or {}).get("flops", 0.0),
    }


def trainings_in_horizon(constraints: Constraints) -> int:
    """The first adaptation plus one per arrival of new data within the horizon."""
    every = constraints.new_data_every_months
    if every is None:
        return 1
    return 1 + math.floor(constraints.horizon_months / every + 1e-9)


def tco(costs: dict[str, float], constraints: Constraints, per_month: float) -> float:
    one_off = costs["one_off_usd"] * trainings_in_horizon(constraints)
    return one_off + per_month * constraints.horizon_months * costs["per_request_usd"]


def break_even(a: dict[str, float], b: dict[str, float], constraints: Constraints) -> float | None:
    """Requests per month above which `a` (dearer up front) costs less than `b` in total,
    or None when `a` never catches up (it is not cheaper per request)."""
    saving = b["per_request_usd"] - a["per_request_usd"]
    extra = (a["one_off_usd"] - b["one_off_usd"]) * trainings_in_horizon(constraints)
    if saving <= 0:
        return None
    return max(0.0, extra / (saving * constraints.horizon_months))

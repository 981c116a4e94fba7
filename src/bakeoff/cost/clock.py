"""Timing that does not follow machine load.

Wall time per row depends on what else the machine is doing: one run measured 91, 595 and
1,271 ms per row in three stores. The CPU time this process spent is far steadier, and
`/proc/stat` says how busy the whole machine was meanwhile, so the share taken by other
processes is measured, not guessed. A run is *contended* when others took more than
`CONTENDED_SHARE` of the machine; its latency is then estimated from CPU time spread over the
threads it computes with, instead of taken from the wall clock.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

CONTENDED_SHARE = 0.25  # others used over a quarter of the machine's CPU time
MIN_LOCAL_SHARE = 0.3  # below this share of its threads, the work ran elsewhere (an API)


def process_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy_seconds() -> float | None:
    """CPU seconds all processes have spent (Linux /proc/stat), or None where unreadable."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = handle.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(v) for v in fields[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    busy = sum(ticks[:8]) - idle  # guest time is already inside user time
    return busy / os.sysconf("SC_CLK_TCK")


@dataclass
class Timing:
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process, all threads
    others_share: float | None = None  # of the machine's CPU, used by other processes
    threads: int = 1

    @property
    def contended(self) -> bool:
        return self.others_share is not None and self.others_share > CONTENDED_SHARE

    @property
    def thread_share(self) -> float:
        """How busy this process kept its compute threads (1.0: all of them, all the time)."""
        return self.cpu_seconds / (self.wall_seconds * self.threads) if self.wall_seconds else 0.0

    def quiet_seconds(self) -> tuple[float, str]:
        """The wall time on a quiet machine, and how it was found."""
        if not self.contended:
            return self.wall_seconds, "wall clock (machine quiet)"
        if self.thread_share < MIN_LOCAL_SHARE:  # waiting on a server: CPU time says nothing
            return self.wall_seconds, "wall clock (contended, remote work: not correctable)"
        estimate = self.cpu_seconds / self.threads
        return min(self.wall_seconds, estimate), "CPU time / threads (machine contended)"


@contextmanager
def timed() -> Iterator[Timing]:
    """Wall time, this process's CPU time, and the machine's load while the block ran."""
    import torch  # here, not at import: the HTTP backend's runs never load torch

    timing = Timing(threads=torch.get_num_threads())  # local inference's compute threads
    cpu, busy, start = process_cpu_seconds(), machine_busy_seconds(), time.perf_counter()
    try:
        yield timing
    finally:
        timing.wall_seconds = time.perf_counter() - start
        timing.cpu_seconds = process_cpu_seconds() - cpu
        busy_after = machine_busy_seconds()
        capacity = timing.wall_seconds * (os.cpu_count() or 1)
        if busy is not None and busy_after is not None and capacity > 0:
            others = busy_after - busy - timing.cpu_seconds
            timing.others_share = min(1.0, max(0.0, others / capacity))

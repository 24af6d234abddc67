"""How long and on how many threads a run trains: a wall-clock budget, and a thread count that adapts to a
2-core machine shared with other work."""

from __future__ import annotations

import os
import time

import torch
from transformers import TrainerCallback


class TimeBudget(TrainerCallback):
    """Stops the run, with a checkpoint, once `minutes` of this call are spent (at least one step runs)."""

    def __init__(self, minutes: float):
        self.deadline = time.monotonic() + minutes * 60

    def on_step_end(self, args, state, control, **kwargs):
        if time.monotonic() >= self.deadline:
            control.should_training_stop = True
            control.should_save = True


class ThreadGovernor(TrainerCallback):
    """On a 2-core machine two threads are fastest alone but ~4x slower than one thread when another process
    keeps a core busy; every few steps look at /proc/stat and use what fits."""

    def __init__(self, every: int = 5):
        self.every, self.last = every, None

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step % self.every:
            return
        try:
            busy = sum(int(x) for i, x in enumerate(open("/proc/stat").readline().split()[1:]) if i not in (3, 4))
            mine = sum(int(x) for x in open("/proc/self/stat").read().rsplit(")", 1)[1].split()[11:13])
        except OSError:
            return
        now = time.monotonic()
        if self.last is not None:
            ticks = (now - self.last[2]) * os.sysconf("SC_CLK_TCK")
            others = ((busy - self.last[0]) - (mine - self.last[1])) / max(ticks, 1)
            torch.set_num_threads(1 if others > 0.5 else 2)
        self.last = (busy, mine, now)

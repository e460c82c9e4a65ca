"""Timing shared by the benchmarks."""
import time

import numpy as np
from tqdm import tqdm


def timed(call):
    """(what ``call()`` returns, its wall seconds). Every benchmark times its calls through this."""
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def steady_median(times):
    """Median seconds of the calls after the first (which compiles), or of the only one."""
    return float(np.median(times[1:] or times))


def timed_steps(step, batches):
    """Run ``step(batch)`` (returning the loss as a float) on every batch: (losses, ``steady_median`` seconds)."""
    losses, times = [], []
    for batch in batches:
        loss, elapsed = timed(lambda: step(batch))
        losses.append(loss)
        times.append(elapsed)
    return losses, steady_median(times)


def call_times(call, repeats):
    """(seconds of the first call = compile + run, list of the seconds of ``repeats`` later calls)."""
    first = timed(call)[1]
    times = [timed(call)[1] for _ in tqdm(range(repeats), desc="repeats", leave=False)]
    return first, times


def time_calls(call, repeats):
    """(seconds of the first call = compile + run, median seconds of ``repeats`` later calls)."""
    first, times = call_times(call, repeats)
    return first, float(np.median(times))

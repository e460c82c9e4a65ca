"""Timing shared by the benchmarks."""
import time

import numpy as np
from tqdm import tqdm


def call_times(call, repeats):
    """(seconds of the first call = compile + run, list of the seconds of ``repeats`` later calls)."""
    started = time.perf_counter()
    call()
    first = time.perf_counter() - started
    times = []
    for _ in tqdm(range(repeats), desc="repeats", leave=False):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return first, times


def time_calls(call, repeats):
    """(seconds of the first call = compile + run, median seconds of ``repeats`` later calls)."""
    first, times = call_times(call, repeats)
    return first, float(np.median(times))

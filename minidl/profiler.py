"""Where the time of a training step goes: each op's forward and backward, each optimizer
step, and ranges you name, with PyTorch's profiler names::

    from minidl.profiler import profile, record_function

    with profile() as prof:
        with record_function("train step"):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(); loss.backward(); opt.step()
    print(prof.table(sort_by="self_cpu_time_total", row_limit=10))
    prof.export_chrome_trace("trace.json")     # open in chrome://tracing or ui.perfetto.dev

While a ``profile`` is running, the engine reports to it (``minidl.autograd._set_profiler``):
for every op ``record("forward", name, start, end, nbytes)`` with the bytes of its output,
for every backward ``record("backward", ...)`` with the bytes of the input gradients it
made, and the optimizers ``record("optimizer", "Adam.step", ...)``; times come from
``time.perf_counter()``. Outside a ``profile`` nothing is recorded and nothing is paid.

On the GPU, CuPy launches kernels without waiting for them, so an op's time there is the
time to launch it; the work shows up in whichever later op waits for a result.
"""

import contextlib
import json
import os
import threading
import time
from collections import namedtuple
from pathlib import Path

from . import autograd
from .atomic_write import atomic_write

__all__ = ["profile", "record_function", "Event"]


class Event(namedtuple("Event", "kind name start end nbytes thread")):
    """One recorded interval: ``kind`` is "forward", "backward", "optimizer" or "user";
    ``start``/``end`` are ``time.perf_counter()`` seconds; ``nbytes`` the bytes it made."""

    __slots__ = ()

    @property
    def duration(self):
        return self.end - self.start

    @property
    def label(self):
        """The name shown in tables: backward rows as ``LinearBackward``, as torch does."""
        return self.name + "Backward" if self.kind == "backward" else self.name


Row = namedtuple(
    "Row", "name kind count cpu_time_total self_cpu_time_total cpu_time cpu_memory_usage"
)
Row.__doc__ = """One line of the table: the events of one op (or range) and kind, summed;
times in seconds (``cpu_time`` is the mean per call), memory in bytes."""

# sort_by: torch's names, and short ones
_SORT_KEYS = {
    "cpu_time_total": "cpu_time_total",
    "total": "cpu_time_total",
    "self_cpu_time_total": "self_cpu_time_total",
    "self": "self_cpu_time_total",
    "cpu_time": "cpu_time",
    "mean": "cpu_time",
    "count": "count",
    "cpu_memory_usage": "cpu_memory_usage",
    "bytes": "cpu_memory_usage",
}


def _self_times(events):
    """Each event's duration less that of the events directly nested inside it."""
    self_times = [e.duration for e in events]
    order = sorted(
        range(len(events)), key=lambda i: (events[i].thread, events[i].start, -events[i].end)
    )
    stack = []  # indices of the enclosing events, innermost last
    for i in order:
        event = events[i]
        while stack and (
            events[stack[-1]].thread != event.thread or events[stack[-1]].end <= event.start
        ):
            stack.pop()
        if stack:
            self_times[stack[-1]] -= event.duration
        stack.append(i)
    return self_times


def _format_time(seconds):
    if seconds >= 1:
        return f"{seconds:.3f}s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3f}ms"
    return f"{seconds * 1e6:.3f}us"


def _format_bytes(nbytes):
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= size:
            return f"{nbytes / size:.2f} {unit}"
    return f"{nbytes} B"


class KeyAverages(list):
    """The rows of ``prof.key_averages()``; ``.table()`` formats them."""

    def table(self, sort_by="cpu_time_total", row_limit=None):
        """The table as a string, largest first by ``sort_by`` (cpu_time_total,
        self_cpu_time_total, cpu_time, count, cpu_memory_usage, or total, self, mean,
        bytes); at most ``row_limit`` rows."""
        if sort_by not in _SORT_KEYS:
            raise ValueError(
                f"table: unknown sort_by {sort_by!r}; choose one of {', '.join(_SORT_KEYS)}"
            )
        field = _SORT_KEYS[sort_by]
        rows = sorted(self, key=lambda r: getattr(r, field), reverse=True)[:row_limit]
        all_self = sum(r.self_cpu_time_total for r in self)
        header = (
            "Name",
            "Kind",
            "Self CPU %",
            "Self CPU",
            "CPU total",
            "CPU time avg",
            "CPU Mem",
            "# of Calls",
        )
        lines = [
            (
                r.name,
                r.kind,
                f"{100 * r.self_cpu_time_total / (all_self or 1):.2f}%",
                _format_time(r.self_cpu_time_total),
                _format_time(r.cpu_time_total),
                _format_time(r.cpu_time),
                _format_bytes(r.cpu_memory_usage),
                str(r.count),
            )
            for r in rows
        ]
        widths = [max(len(line[i]) for line in [header] + lines) for i in range(len(header))]
        rule = "  ".join("-" * w for w in widths)

        def fmt(cells):
            return "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
            )

        body = [rule, fmt(header), rule] + [fmt(line) for line in lines] + [rule]
        return "\n".join(body + [f"Self CPU time total: {_format_time(all_self)}"]) + "\n"


class profile:
    """Context manager: records every op's forward and backward, every optimizer step and
    every ``record_function`` range run inside it (in ``prof.events``)."""

    def __init__(self):
        self.events = []
        self._previous = None
        self._running = False
        self._t0 = None

    def __enter__(self):
        if self._running:
            raise RuntimeError("profile: this profiler is already running")
        self._running = True
        self._previous = autograd._profiler  # an enclosing profile still gets everything
        self._t0 = time.perf_counter()
        autograd._set_profiler(self)
        return self

    def __exit__(self, *exc):
        autograd._set_profiler(self._previous)
        self._running = False
        return False

    def record(self, kind, name, start, end, nbytes):
        """Called by the engine and the optimizers while this profile is running."""
        self.events.append(Event(kind, name, start, end, nbytes, threading.get_ident()))
        if self._previous is not None:
            self._previous.record(kind, name, start, end, nbytes)

    def key_averages(self):
        """One :class:`Row` per (name, kind): calls, total/self/mean time, bytes."""
        rows = {}
        for event, self_time in zip(self.events, _self_times(self.events)):
            key = (event.label, event.kind)
            count, total, self_total, nbytes = rows.get(key, (0, 0.0, 0.0, 0))
            rows[key] = (
                count + 1,
                total + event.duration,
                self_total + self_time,
                nbytes + event.nbytes,
            )
        return KeyAverages(
            Row(name, kind, count, total, self_total, total / count, nbytes)
            for (name, kind), (count, total, self_total, nbytes) in rows.items()
        )

    def table(self, sort_by="cpu_time_total", row_limit=None):
        """``prof.key_averages().table(...)``: the summary table as a string, to print."""
        return self.key_averages().table(sort_by=sort_by, row_limit=row_limit)

    def export_chrome_trace(self, path):
        """Write the events as Chrome trace JSON (chrome://tracing, ui.perfetto.dev)."""
        path = Path(path)
        threads = {}
        t0 = self._t0 if self._t0 is not None else 0.0
        trace = [
            {
                "name": event.label,
                "cat": event.kind,
                "ph": "X",
                "ts": (event.start - t0) * 1e6,
                "dur": event.duration * 1e6,
                "pid": os.getpid(),
                "tid": threads.setdefault(event.thread, len(threads)),
                "args": {"bytes": event.nbytes},
            }
            for event in self.events
        ]
        text = json.dumps({"traceEvents": trace, "displayTimeUnit": "ms"})
        return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


class record_function(contextlib.ContextDecorator):
    """A named range in the profile (``with record_function("data"): ...``, or as a
    decorator); costs one global read when no profile is running."""

    def __init__(self, name):
        self.name = name

    def _recreate_cm(self):
        return type(self)(self.name)  # a fresh one per decorated call, so calls can nest

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        profiler = autograd._profiler
        if profiler is not None:
            profiler.record("user", self.name, self._start, time.perf_counter(), 0)
        return False

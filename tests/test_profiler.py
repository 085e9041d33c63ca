"""minidl.profiler: per-op forward/backward times and bytes, optimizer steps, user ranges,
the summary table and the Chrome trace."""
import json

import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl import autograd, nn, optim
from minidl.profiler import profile, record_function


def rows_by_name(prof):
    return {row.name: row for row in prof.key_averages()}


# ---- the books, from events whose times we choose ------------------------------------------
def synthetic_profile():
    """A user range [0, 10] s holding two Linear forwards (1 s, 2 s) and one backward (3 s),
    then an optimizer step [11, 15] s outside it."""
    prof = profile()
    prof._t0 = 0.0
    prof.record("forward", "Linear", 1.0, 2.0, 400)
    prof.record("forward", "Linear", 3.0, 5.0, 400)
    prof.record("backward", "Linear", 6.0, 9.0, 1000)
    prof.record("user", "step", 0.0, 10.0, 0)   # recorded when the range closes, after its ops
    prof.record("optimizer", "Adam.step", 11.0, 15.0, 0)
    return prof


def test_key_averages_count_total_self_mean_and_bytes():
    rows = rows_by_name(synthetic_profile())
    assert set(rows) == {"Linear", "LinearBackward", "step", "Adam.step"}
    linear = rows["Linear"]
    assert (linear.kind, linear.count, linear.cpu_time_total, linear.self_cpu_time_total,
            linear.cpu_time, linear.cpu_memory_usage) == ("forward", 2, 3.0, 3.0, 1.5, 800)
    back = rows["LinearBackward"]
    assert (back.kind, back.count, back.cpu_time_total, back.cpu_memory_usage) == \
        ("backward", 1, 3.0, 1000)
    step = rows["step"]  # 10 s in all, of which 1 + 2 + 3 s in the ops inside it
    assert (step.kind, step.cpu_time_total, step.self_cpu_time_total) == ("user", 10.0, 4.0)
    assert rows["Adam.step"].self_cpu_time_total == 4.0


def test_table_sorts_limits_and_formats_like_torch():
    prof = synthetic_profile()
    text = prof.table(sort_by="cpu_time_total")
    lines = text.splitlines()
    assert lines[1].split()[:2] == ["Name", "Kind"] and "# of Calls" in lines[1]
    names = [line.split()[0] for line in lines[3:7]]
    assert names == ["step", "Adam.step", "Linear", "LinearBackward"] or \
        names == ["step", "Adam.step", "LinearBackward", "Linear"]  # 3.0 s each: a tie
    # self time: 4 + 4 + 3 + 3 = 14 s in all; Linear's 3 s are 21.43%
    linear = next(line for line in lines if line.startswith("Linear "))
    assert linear.split() == ["Linear", "forward", "21.43%", "3.000s", "3.000s", "1.500s",
                              "800", "B", "2"]
    assert lines[-1] == "Self CPU time total: 14.000s"
    by_count = prof.table(sort_by="count", row_limit=1).splitlines()
    assert len(by_count) == 6 and by_count[3].startswith("Linear ")
    assert prof.key_averages().table(sort_by="self") == prof.table(sort_by="self_cpu_time_total")
    with pytest.raises(ValueError, match="unknown sort_by 'time'.*cpu_time_total"):
        prof.table(sort_by="time")


def test_chrome_trace_has_one_complete_event_per_record_in_microseconds(tmp_path):
    prof = synthetic_profile()
    path = prof.export_chrome_trace(tmp_path / "trace.json")
    trace = json.loads(path.read_text())
    events = trace["traceEvents"]
    assert len(events) == 5 and {e["ph"] for e in events} == {"X"}
    first = events[0]
    assert (first["name"], first["cat"], first["ts"], first["dur"], first["args"]) == \
        ("Linear", "forward", 1e6, 1e6, {"bytes": 400})
    assert [e["name"] for e in events][2:] == ["LinearBackward", "step", "Adam.step"]
    assert len({(e["pid"], e["tid"]) for e in events}) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["trace.json"]

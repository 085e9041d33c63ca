"""minidl.profiler: per-op forward/backward times and bytes, optimizer steps, user ranges,
the summary table and the Chrome trace."""

import json

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
    prof.record("user", "step", 0.0, 10.0, 0)  # recorded when the range closes, after its ops
    prof.record("optimizer", "Adam.step", 11.0, 15.0, 0)
    return prof


def test_key_averages_count_total_self_mean_and_bytes():
    rows = rows_by_name(synthetic_profile())
    assert set(rows) == {"Linear", "LinearBackward", "step", "Adam.step"}
    linear = rows["Linear"]
    assert (
        linear.kind,
        linear.count,
        linear.cpu_time_total,
        linear.self_cpu_time_total,
        linear.cpu_time,
        linear.cpu_memory_usage,
    ) == ("forward", 2, 3.0, 3.0, 1.5, 800)
    back = rows["LinearBackward"]
    assert (back.kind, back.count, back.cpu_time_total, back.cpu_memory_usage) == (
        "backward",
        1,
        3.0,
        1000,
    )
    step = rows["step"]  # 10 s in all, of which 1 + 2 + 3 s in the ops inside it
    assert (step.kind, step.cpu_time_total, step.self_cpu_time_total) == ("user", 10.0, 4.0)
    assert rows["Adam.step"].self_cpu_time_total == 4.0


def test_table_sorts_limits_and_formats_like_torch():
    prof = synthetic_profile()
    text = prof.table(sort_by="cpu_time_total")
    lines = text.splitlines()
    assert lines[1].split()[:2] == ["Name", "Kind"] and "# of Calls" in lines[1]
    names = [line.split()[0] for line in lines[3:7]]
    assert names == ["step", "Adam.step", "Linear", "LinearBackward"] or names == [
        "step",
        "Adam.step",
        "LinearBackward",
        "Linear",
    ]  # 3.0 s each: a tie
    # self time: 4 + 4 + 3 + 3 = 14 s in all; Linear's 3 s are 21.43%
    linear = next(line for line in lines if line.startswith("Linear "))
    assert linear.split() == [
        "Linear",
        "forward",
        "21.43%",
        "3.000s",
        "3.000s",
        "1.500s",
        "800",
        "B",
        "2",
    ]
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
    assert (first["name"], first["cat"], first["ts"], first["dur"], first["args"]) == (
        "Linear",
        "forward",
        1e6,
        1e6,
        {"bytes": 400},
    )
    assert [e["name"] for e in events][2:] == ["LinearBackward", "step", "Adam.step"]
    assert len({(e["pid"], e["tid"]) for e in events}) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["trace.json"]


# ---- the engine and the optimizer reporting to a running profile ----------------------------
def train_steps(model, opt, x, y, steps):
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_profile_of_training_steps_lists_linear_loss_and_optimizer_with_exact_counts():
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 4))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    x, y = minidl.randn(8, 20), minidl.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    with profile() as prof:
        train_steps(model, opt, x, y, steps=3)
    assert autograd._profiler is None
    rows = rows_by_name(prof)
    expected = {  # name: (kind, calls, bytes made), float32 = 4 bytes
        "Linear": ("forward", 6, 3 * 4 * (8 * 16 + 8 * 4)),
        "ReLU": ("forward", 3, 3 * 4 * 8 * 16),
        "CrossEntropy": ("forward", 3, 3 * 4),
        # second Linear: dx, dW, db; the first one's input needs no gradient: dW, db
        "LinearBackward": ("backward", 6, 3 * 4 * ((8 * 16 + 4 * 16 + 4) + (16 * 20 + 16))),
        "ReLUBackward": ("backward", 3, 3 * 4 * 8 * 16),
        "CrossEntropyBackward": ("backward", 3, 3 * 4 * 8 * 4),  # the logits' gradient
        "Adam.step": ("optimizer", 3, 0),
    }
    assert {name: (r.kind, r.count, r.cpu_memory_usage) for name, r in rows.items()} == expected
    events = prof.events
    assert all(e.end >= e.start for e in events)
    # each step's events come in the order the step runs them
    kinds = [e.kind for e in events]
    assert kinds == (["forward"] * 4 + ["backward"] * 4 + ["optimizer"]) * 3
    for row in rows.values():
        assert row.cpu_time_total > 0 and row.cpu_time == pytest.approx(
            row.cpu_time_total / row.count
        )
    table = prof.table(sort_by="count")
    for name in expected:
        assert name in table
    # outside the profile nothing is recorded any more
    train_steps(model, opt, x, y, steps=1)
    assert prof.events == events and len(events) == 27


def test_record_function_ranges_nest_and_profiles_nest():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)

    @record_function("square")
    def square(t):
        return t * t

    with profile() as outer:
        with record_function("step"):
            with profile() as inner:
                square(x).sum().backward()
        assert autograd._profiler is outer
    assert autograd._profiler is None
    assert [e.name for e in inner.events] == ["Mul", "square", "Sum", "Sum", "Mul"]
    assert [e.label for e in outer.events] == [
        "Mul",
        "square",
        "Sum",
        "SumBackward",
        "MulBackward",
        "step",
    ]
    rows = rows_by_name(outer)
    total = {name: r.cpu_time_total for name, r in rows.items()}
    # self time: less the events directly inside (the Mul forward is inside "square")
    direct = ["square", "Sum", "SumBackward", "MulBackward"]
    assert rows["step"].self_cpu_time_total == pytest.approx(
        total["step"] - sum(total[n] for n in direct), abs=1e-9
    )
    assert rows["square"].self_cpu_time_total == pytest.approx(
        total["square"] - total["Mul"], abs=1e-9
    )
    with pytest.raises(RuntimeError, match="already running"):
        with outer:
            with outer:
                pass


def test_profile_is_removed_when_its_block_raises():
    with pytest.raises(ZeroDivisionError):
        with profile():
            1 / 0  # noqa: B018
    assert autograd._profiler is None
    with record_function("nothing running"):  # no profile: nothing recorded, no error
        pass


@pytest.mark.gpu
def test_on_the_gpu_the_same_ops_and_bytes_are_recorded():
    if not minidl.backend.cupy_available():
        pytest.skip("needs CuPy and a CUDA GPU")
    rows = {}
    for device in ("cpu", "gpu"):
        minidl.manual_seed(0)
        model = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 4)).to(device)
        opt = optim.Adam(model.parameters(), lr=1e-3)
        x = minidl.randn(8, 20, device=device)
        y = minidl.tensor([0, 1, 2, 3, 0, 1, 2, 3], device=device)
        with profile() as prof:
            train_steps(model, opt, x, y, steps=2)
        rows[device] = {(r.name, r.kind, r.count, r.cpu_memory_usage) for r in prof.key_averages()}
    assert rows["gpu"] == rows["cpu"] and ("Adam.step", "optimizer", 2, 0) in rows["gpu"]

"""Module and Parameter: registration, traversal, modes, devices, state dicts, repr."""

from collections import OrderedDict

import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.scale = nn.Parameter(minidl.ones(4))
        self.register_buffer("count", minidl.zeros(1))
        self.note = minidl.ones(2)  # a plain tensor attribute: not state
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.fc(x)) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(4, 2))

    def forward(self, x):
        return self.head(self.block(x))


def test_parameter_is_a_tensor_that_requires_grad():
    p = nn.Parameter(minidl.zeros(2, 3))
    assert isinstance(p, minidl.Tensor) and p.requires_grad and p.is_leaf
    assert not nn.Parameter(minidl.zeros(2), requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:\ntensor(")
    with pytest.raises(TypeError, match="floating point"):
        nn.Parameter(minidl.tensor([1, 2]))


def test_registration_and_dotted_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == [
        "block.scale",
        "block.fc.weight",
        "block.fc.bias",
        "head.1.weight",
        "head.1.bias",
    ]
    assert [p for p in net.parameters()] == [p for _, p in net.named_parameters()]
    assert list(net.children()) == [net.block, net.head]
    assert [n for n, _ in net.named_modules()] == [
        "",
        "block",
        "block.fc",
        "block.drop",
        "head",
        "head.0",
        "head.1",
    ]
    assert next(iter(net.modules())) is net and len(list(net.modules())) == 7
    assert list(net.block.parameters(recurse=False)) == [net.block.scale]
    assert [n for n, _ in net.named_buffers()] == ["block.count"]


def test_shared_parameters_and_modules_come_once():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(model.parameters())) == 2
    assert sum(m is shared for m in model.modules()) == 1


def test_reassignment_keeps_registries_consistent():
    block = Block()
    order = [n for n, _ in block.named_parameters()]
    block.scale = nn.Parameter(minidl.zeros(4))  # replacing keeps the order
    assert [n for n, _ in block.named_parameters()] == order
    with pytest.raises(TypeError, match="'scale'.*Parameter or None"):
        block.scale = block.scale * 2  # would silently unregister the parameter
    block.count = minidl.ones(1)  # a buffer stays a buffer
    assert dict(block.named_buffers())["count"] is block.count
    with pytest.raises(TypeError, match="'count'.*Tensor or None"):
        block.count = 3
    block.fc = nn.Identity()
    assert [n for n, _ in block.named_parameters()] == ["scale"]
    del block.drop
    assert [n for n, _ in block.named_children()] == ["fc"]
    block.scale = None
    assert list(block.parameters()) == [] and block.scale is None


def test_assignment_before_init_is_an_error():
    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Broken()


def test_call_runs_forward():
    class Twice(nn.Module):
        def forward(self, x, factor=2):
            return x * factor

    assert Twice()(minidl.tensor([1.0]), factor=3).item() == 3.0
    with pytest.raises(NotImplementedError, match="Module has no forward"):
        nn.Module()(minidl.zeros(1))


def test_zero_grad():
    net = Net()
    net(minidl.randn(5, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_train_eval_reach_every_module():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    x = minidl.randn(4, 3)
    np.testing.assert_array_equal(net(x).numpy(), net(x).numpy())  # dropout is off
    net.train()
    assert all(m.training for m in net.modules())


def test_requires_grad_and_to_dtype():
    net = Net()
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    net.requires_grad_(True)
    net(minidl.randn(2, 3)).sum().backward()
    assert net.to(dtype=minidl.float64) is net
    assert all(t.dtype == np.float64 for t in net.state_dict().values())
    assert all(p.grad.dtype == np.float64 for p in net.parameters())
    assert net.to("cpu") is net and all(p.device == "cpu" for p in net.parameters())
    assert net.float().block.fc.weight.dtype == np.float32


@pytest.mark.gpu
def test_to_gpu_and_back():
    if not minidl.backend.cupy_available():
        pytest.skip("needs CuPy and a CUDA GPU")
    net = Net().eval()
    x = minidl.randn(3, 3)
    expected = net(x).numpy()
    net.to("gpu")
    assert all(t.device == "gpu" for t in list(net.parameters()) + [net.block.count])
    np.testing.assert_allclose(net(x.to("gpu")).numpy(), expected, rtol=1e-5, atol=1e-6)
    net.cpu()
    assert all(p.device == "cpu" for p in net.parameters())


def test_state_dict_names_and_live_arrays():
    net = Net()
    sd = net.state_dict()
    assert sorted(sd) == sorted([n for n, _ in net.named_parameters()] + ["block.count"])
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    assert sd["block.fc.weight"] is net.block.fc.weight.data


def test_state_dict_orders_module_by_module_and_names_tied_weights_twice():
    # torch's order: a module's parameters, its buffers, then its children's
    model = nn.Sequential(nn.BatchNorm1d(3), nn.Linear(3, 2))
    assert list(model.state_dict()) == [
        "0.weight",
        "0.bias",
        "0.running_mean",
        "0.running_var",
        "0.num_batches_tracked",
        "1.weight",
        "1.bias",
    ]

    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(5, 4)
            self.head = nn.Linear(4, 5, bias=False)
            self.head.weight = self.emb.weight

    tied = Tied()
    state = tied.state_dict()
    assert list(state) == ["emb.weight", "head.weight"]  # as torch saves tied weights
    assert state["head.weight"] is state["emb.weight"]
    assert len(list(tied.parameters())) == 1
    other = Tied()
    assert other.load_state_dict({k: v.copy() for k, v in state.items()}) == ([], [])
    np.testing.assert_array_equal(other.head.weight.data, tied.emb.weight.data)
    with pytest.raises(RuntimeError, match=r"missing keys: \['head.weight'\]"):
        other.load_state_dict({"emb.weight": state["emb.weight"]})


def test_load_state_dict_reproduces_outputs():
    a, b = Net().eval(), Net().eval()
    x = minidl.randn(6, 3)
    assert not np.array_equal(a(x).numpy(), b(x).numpy())
    weight = b.block.fc.weight.data
    b.load_state_dict({k: v.copy() for k, v in a.state_dict().items()})
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    assert b.block.fc.weight.data is weight  # copied in place: optimizers keep their views


def test_load_state_dict_errors_and_non_strict():
    net = Net()
    before = {k: v.copy() for k, v in net.state_dict().items()}
    sd = {k: v + 1 for k, v in before.items()}
    sd["head.1.weight"] = np.zeros((3, 4), np.float32)
    sd["extra"] = np.zeros(1)
    del sd["block.scale"]
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(sd)
    message = str(info.value)
    assert "missing keys: ['block.scale']" in message
    assert "unexpected keys: ['extra']" in message
    assert "head.1.weight: checkpoint has shape (3, 4), the model has shape (2, 4)" in message
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[key])  # nothing applied
    sd["head.1.weight"] = np.zeros((2, 4), np.float32)
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert (missing, unexpected) == (["block.scale"], ["extra"])
    np.testing.assert_array_equal(net.block.fc.bias.numpy(), before["block.fc.bias"] + 1)
    np.testing.assert_array_equal(net.block.scale.numpy(), before["block.scale"])


def test_load_state_dict_refuses_non_numeric_values():
    layer = nn.Linear(2, 1)
    bias = layer.bias.numpy()
    with pytest.raises(RuntimeError, match="weight: checkpoint has dtype <U1"):
        layer.load_state_dict({"bias": np.zeros(1), "weight": np.array([["a", "b"]])})
    np.testing.assert_array_equal(layer.bias.numpy(), bias)


def test_repr_prints_the_tree():
    inner = nn.Sequential(nn.Dropout(0.1), nn.Tanh())
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), inner, nn.Linear(8, 2, bias=False))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=4, out_features=8, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Sequential(\n"
        "    (0): Dropout(p=0.1)\n"
        "    (1): Tanh()\n"
        "  )\n"
        "  (3): Linear(in_features=8, out_features=2, bias=False)\n"
        ")"
    )

    class WithExtra(nn.Module):  # extra_repr and children: extra first, as in PyTorch
        def __init__(self):
            super().__init__()
            self.act = nn.ReLU()

        def extra_repr(self):
            return "k=3"

    assert repr(WithExtra()) == "WithExtra(\n  k=3\n  (act): ReLU()\n)"


@pytest.mark.parametrize(
    "item, match",
    [
        (F.relu, r"item 1 is not a Module but function relu \(wrap a function in a Module"),
        (nn.ReLU, r"item 1 is not a Module but type ReLU \(a class: instantiate it"),
        (3, "item 1 is not a Module but int"),
        (None, "item 1 is not a Module but NoneType"),
        ([nn.ReLU()], "item 1 is not a Module but list"),
    ],
)
def test_sequential_refuses_items_that_are_not_modules(item, match):
    # a plain function used to be dropped silently: Sequential(Linear, F.relu, Linear)
    # ran as Linear -> Linear
    with pytest.raises(TypeError, match=match):
        nn.Sequential(nn.Linear(4, 8), item, nn.Linear(8, 2))


def test_containers_refuse_non_modules_on_every_way_in():
    with pytest.raises(TypeError, match="item act is not a Module but function relu"):
        nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", F.relu)]))
    seq = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="Sequential: item 1 is not a Module"):
        seq.append(F.relu)
    assert len(seq) == 1
    with pytest.raises(TypeError, match="ModuleList: item 1 is not a Module"):
        nn.ModuleList([nn.ReLU(), F.relu])
    with pytest.raises(TypeError, match="ModuleList: item 0 is not a Module"):
        nn.ModuleList().append(lambda x: x)


def test_sequential_of_modules_still_runs_every_item():
    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = minidl.tensor(np.ones((1, 3), dtype=np.float32))
    expected = seq[2](seq[1](seq[0](x)))
    np.testing.assert_array_equal(seq(x).data, expected.data)
    assert len(seq) == 3

"""Module forward hooks and Tensor gradient hooks, with PyTorch's semantics."""

import numpy as np
import pytest

import minidl
from minidl import nn


# ---- Module.register_forward_pre_hook / register_forward_hook ----------------------------
class Affine(nn.Module):
    """y = a * x + b, with keyword argument b, so hooks can see args and kwargs."""

    def forward(self, x, a=2.0, b=0.0):
        return x * a + b


def test_forward_hook_sees_module_inputs_output_and_stops_after_remove():
    layer = nn.Linear(3, 2)
    x = minidl.randn(4, 3)
    seen = []
    handle = layer.register_forward_hook(lambda m, args, out: seen.append((m, args, out)))
    out = layer(x)
    assert len(seen) == 1
    module, args, hooked_out = seen[0]
    assert module is layer and isinstance(args, tuple) and args[0] is x and hooked_out is out
    handle.remove()
    layer(x)
    assert len(seen) == 1
    handle.remove()  # a second remove is harmless, as in torch


def test_forward_hook_return_value_replaces_output_and_gradient_flows_through_it():
    layer = nn.Linear(3, 2)
    x = minidl.randn(4, 3)
    expected = layer(x).data * 10
    handle = layer.register_forward_hook(lambda m, args, out: out * 10)
    out = layer(x)
    np.testing.assert_allclose(out.data, expected, rtol=1e-6)
    out.sum().backward()
    # d sum(10 * (x W^T + b)) / db = 10 per row of x
    np.testing.assert_allclose(layer.bias.grad.data, np.full(2, 40.0), rtol=1e-6)
    handle.remove()
    np.testing.assert_allclose(layer(x).data, expected / 10, rtol=1e-6)


def test_forward_hook_returning_none_keeps_output():
    layer = Affine()
    layer.register_forward_hook(lambda m, args, out: None)
    assert layer(minidl.tensor([1.0])).item() == 2.0


def test_pre_hook_return_replaces_inputs_non_tuple_is_wrapped():
    layer = Affine()
    x = minidl.tensor([1.0, 2.0])
    handle = layer.register_forward_pre_hook(lambda m, args: args[0] + 1)  # not a tuple
    np.testing.assert_array_equal(layer(x).data, [4.0, 6.0])
    handle.remove()
    # a returned tuple replaces all positional arguments: here also a = 10
    layer.register_forward_pre_hook(lambda m, args: (args[0], 10.0))
    np.testing.assert_array_equal(layer(x).data, [10.0, 20.0])


def test_hooks_run_in_registration_order_each_seeing_the_previous_result_and_prepend():
    layer = Affine()
    order = []

    def pre(tag, delta):
        def hook(module, args):
            order.append(tag)
            return (args[0] + delta,)

        return hook

    layer.register_forward_pre_hook(pre("add1", 1.0))
    layer.register_forward_pre_hook(pre("add100", 100.0))
    layer.register_forward_pre_hook(pre("first", 1000.0), prepend=True)
    seen_args = []
    layer.register_forward_hook(lambda m, args, out: seen_args.append(args[0].item()))
    layer.register_forward_hook(lambda m, args, out: (order.append("double"), out * 2)[1])
    layer.register_forward_hook(lambda m, args, out: (order.append("neg"), -out)[1])
    out = layer(minidl.tensor(0.0))
    assert order == ["first", "add1", "add100", "double", "neg"]
    assert seen_args == [1101.0]  # forward hooks see the args as the pre-hooks left them
    assert out.item() == -(1101.0 * 2) * 2


def test_hooks_with_kwargs():
    layer = Affine()

    def pre(module, args, kwargs):
        return args, {**kwargs, "b": 5.0}

    def post(module, args, kwargs, out):
        assert kwargs == {"b": 5.0}
        return out + kwargs["b"]

    h1 = layer.register_forward_pre_hook(pre, with_kwargs=True)
    h2 = layer.register_forward_hook(post, with_kwargs=True)
    assert layer(minidl.tensor(1.0), b=0.0).item() == 2.0 + 5.0 + 5.0
    h1.remove()
    h2.remove()
    assert layer(minidl.tensor(1.0), b=0.0).item() == 2.0
    bad = layer.register_forward_pre_hook(lambda m, a, k: 3, with_kwargs=True)
    with pytest.raises(RuntimeError, match="forward pre-hook must return None or a tuple"):
        layer(minidl.tensor(1.0))
    bad.remove()


def test_handle_as_context_manager_and_hooks_on_children_of_sequential():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    shapes = {}

    def record(name):
        return lambda module, args, out: shapes.__setitem__(name, out.shape)

    handles = [m.register_forward_hook(record(name)) for name, m in model.named_modules() if name]
    with model[1].register_forward_hook(lambda m, args, out: out * 0):
        out = model(minidl.randn(5, 4))
    # ReLU's output zeroed: the last Linear sees zeros and returns its bias on every row
    np.testing.assert_allclose(out.data, np.broadcast_to(model[2].bias.data, (5, 2)))
    assert shapes == {"0": (5, 8), "1": (5, 8), "2": (5, 2)}
    for handle in handles:
        handle.remove()
    shapes.clear()
    model(minidl.randn(5, 4))
    assert shapes == {}
    assert not (model[1](minidl.tensor([1.0])).data == 0).all()  # the context ended


# ---- Tensor.register_hook --------------------------------------------------------------------
# Expected values below are PyTorch's (checked against torch 2.13 by hand): a hook sees the
# gradient summed over every use of its tensor, once per backward; hooks chain in order.
def test_leaf_hook_result_is_accumulated_and_stops_after_remove():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    calls = []
    handle = x.register_hook(lambda g: (calls.append(g.data.copy()), g * 3)[1])
    (x * 2).sum().backward()
    assert len(calls) == 1
    np.testing.assert_array_equal(calls[0], [2.0, 2.0])
    np.testing.assert_array_equal(x.grad.data, [6.0, 6.0])
    handle.remove()
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [8.0, 8.0])
    assert len(calls) == 1


def test_leaf_used_twice_hook_sees_the_summed_gradient_once():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    calls = []
    x.register_hook(lambda g: (calls.append(g.data.copy()), minidl.clamp(g, max=6.0))[1])
    (x * 2 + x * 5).sum().backward()
    assert len(calls) == 1
    np.testing.assert_array_equal(calls[0], [7.0, 7.0])
    np.testing.assert_array_equal(x.grad.data, [6.0, 6.0])  # torch: clamp(2 + 5) = 6


def test_leaf_hook_sees_this_backwards_gradient_not_the_accumulated_one():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    seen = []
    x.register_hook(lambda g: seen.append(g.data.copy()))  # returns None: observes only
    (x * 3).sum().backward()
    np.testing.assert_array_equal(seen[0], [3.0, 3.0])
    np.testing.assert_array_equal(x.grad.data, [5.0, 5.0])


def test_non_leaf_hooks_chain_in_registration_order_and_change_what_flows_on():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    calls = []
    y.register_hook(lambda g: (calls.append(("times10", g.data.copy())), g * 10)[1])
    y.register_hook(lambda g: (calls.append(("plus1", g.data.copy())), g + 1)[1])
    (y * y + y).sum().backward()
    # d/dy (y^2 + y) = 2y + 1 = [5, 9]; then *10, then +1; dy/dx = 2
    assert [name for name, _ in calls] == ["times10", "plus1"]
    np.testing.assert_array_equal(calls[0][1], [5.0, 9.0])
    np.testing.assert_array_equal(calls[1][1], [50.0, 90.0])
    np.testing.assert_array_equal(x.grad.data, [102.0, 182.0])


def test_hook_on_the_root_scales_every_gradient():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.register_hook(lambda g: g * 2)
    loss.backward()
    np.testing.assert_array_equal(x.grad.data, [4.0, 8.0])


def test_hook_removed_by_itself_runs_once():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    handles = []

    def once(g):
        handles[0].remove()
        return g * 5

    handles.append(y.register_hook(once))
    y.sum().backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad.data, [10.0, 10.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [12.0, 12.0])


def test_hook_errors_like_torch():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        minidl.tensor([1.0]).register_hook(lambda g: g)
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g.sum())
    with pytest.raises(RuntimeError, match=r"shape"):
        (x * 2).sum().backward()


def test_hooks_clip_parameter_gradients_in_a_model():
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    x = minidl.randn(8, 3)
    (model(x) * 100).sum().backward()
    unclipped = {name: p.grad.data.copy() for name, p in model.named_parameters()}
    model.zero_grad()
    handles = [p.register_hook(lambda g: minidl.clamp(g, -0.5, 0.5)) for p in model.parameters()]
    (model(x) * 100).sum().backward()
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.grad.data, np.clip(unclipped[name], -0.5, 0.5))
    for handle in handles:
        handle.remove()
    model.zero_grad()
    (model(x) * 100).sum().backward()
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.grad.data, unclipped[name])


def test_hooks_apply_under_create_graph_and_autograd_grad():
    x = minidl.tensor([1.0, 2.0], dtype=minidl.float64, requires_grad=True)
    y = x**3
    y.register_hook(lambda g: g * 2)
    (gx,) = minidl.autograd.grad(y.sum(), x, create_graph=True)
    np.testing.assert_allclose(gx.data, [6.0, 24.0])  # 2 * 3x^2
    gx.sum().backward()
    np.testing.assert_allclose(x.grad.data, [12.0, 24.0])  # d/dx 6x^2


def test_retain_grad_keeps_the_gradient_after_every_hook():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    y.register_hook(lambda g: g * 10)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [20.0, 20.0])
    np.testing.assert_array_equal(y.grad.data, [10.0, 10.0])  # torch 2.13: tensor([10., 10.])

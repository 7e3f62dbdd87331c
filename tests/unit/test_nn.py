import pytest
import torch

from minifc import functional as F
from minifc.errors import ShapeError
from minifc.gradcheck import check_module, rel_error
from minifc.nn import Dropout, Linear, LinearReLU, Module, Parameter, ReLU, Sequential

pytestmark = pytest.mark.usefixtures("single_thread")

F64 = torch.float64


class Scale(Module):
    """A module with a parameter and a buffer, for the traversal tests."""

    def __init__(self, n):
        super().__init__()
        self.gain = Parameter(torch.ones(n))
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))
        self.register_buffer("running", torch.zeros(n))

    def forward(self, x):
        self._x = x
        return x * self.gain.data

    def backward(self, dout):
        self.gain.accumulate((dout * self._x).sum(0))
        return dout * self.gain.data


def small_net(dtype=F64, device="cpu"):
    return Sequential(
        Linear(6, 5, dtype=dtype, device=device), ReLU(), Sequential(Linear(5, 4, dtype=dtype, device=device))
    )


# -- Parameter ----------------------------------------------------------------------------------


def test_parameter_holds_data_and_accumulates_grad():
    p = Parameter(torch.zeros(2, 3), name="w")
    assert p.grad is None and p.shape == (2, 3)
    p.accumulate(torch.ones(2, 3))
    p.accumulate(torch.ones(2, 3))
    assert torch.equal(p.grad, torch.full((2, 3), 2.0))
    assert "w" in repr(p)


def test_parameter_rejects_non_tensor():
    with pytest.raises(TypeError, match="'w'.*torch.Tensor.*list"):
        Parameter([1.0, 2.0], name="w")


# -- Module -------------------------------------------------------------------------------------


def test_named_parameters_and_children():
    net = small_net()
    assert [name for name, _ in net.named_parameters()] == ["0.weight", "0.bias", "2.0.weight", "2.0.bias"]
    assert len(net.parameters()) == 4
    assert [type(m).__name__ for m in net.modules()] == ["Sequential", "Linear", "ReLU", "Sequential", "Linear"]
    assert [name for name, _ in net.named_children()] == ["0", "1", "2"]


def test_reassigning_an_attribute_replaces_the_registration():
    m = Scale(3)
    m.gain = Linear(2, 2)
    assert [name for name, _ in m.named_parameters()] == ["gain.weight", "gain.bias"]


def test_module_needs_super_init():
    class Broken(Module):
        def __init__(self):
            self.w = Parameter(torch.zeros(1))

    with pytest.raises(AttributeError, match=r"super\(\).__init__"):
        Broken()


def test_zero_grad_clears_every_gradient():
    net = small_net()
    out = net.forward(torch.randn(3, 6, dtype=F64))
    net.backward(torch.ones_like(out))
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_backward_accumulates_until_zero_grad():
    layer = Linear(3, 2, dtype=F64)
    x, dout = torch.randn(4, 3, dtype=F64), torch.randn(4, 2, dtype=F64)
    layer.forward(x)
    layer.backward(dout)
    once = layer.weight.grad.clone()
    layer.forward(x)
    layer.backward(dout)
    assert rel_error(layer.weight.grad, 2 * once) < 1e-14


def test_train_and_eval_are_recursive():
    net = Sequential(Linear(3, 3), Sequential(Dropout(0.5), Sequential(ReLU())))
    assert net.eval() is net
    assert all(not m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_to_dtype_positional_and_keyword():
    net = Sequential(Linear(3, 2), Scale(2))
    net.forward(torch.randn(4, 3))
    net.backward(torch.ones(4, 2))

    assert net.to(F64) is net
    assert all(p.data.dtype == F64 and p.grad.dtype == F64 for p in net.parameters())
    buffers = dict(net.named_buffers())
    assert buffers["1.running"].dtype == F64 and buffers["1.count"].dtype == torch.int64

    net.to(dtype=torch.float32)
    assert all(p.data.dtype == torch.float32 for p in net.parameters())


def test_to_device(device):
    net = Sequential(Linear(3, 2), Scale(2)).to(device)
    assert all(p.data.device.type == device.type for p in net.parameters())
    assert all(b.device.type == device.type for _, b in net.named_buffers())
    assert net.forward(torch.randn(4, 3, device=device)).device.type == device.type


def test_state_dict_roundtrip():
    src, dst = Sequential(Linear(4, 3), Scale(3)), Sequential(Linear(4, 3), Scale(3))
    src[1].register_buffer("running", torch.arange(3.0))
    state = src.state_dict()
    assert set(state) == {"0.weight", "0.bias", "1.gain", "1.count", "1.running"}

    dst.load_state_dict(state)

    x = torch.randn(5, 4)
    assert torch.equal(dst.forward(x), src.forward(x))
    assert torch.equal(dict(dst.named_buffers())["1.running"], torch.arange(3.0))
    src[0].weight.data.add_(1)
    assert not torch.equal(dst[0].weight.data, src[0].weight.data)


def test_load_state_dict_keeps_module_dtype():
    src, dst = Linear(4, 3, dtype=F64), Linear(4, 3, dtype=torch.float32)
    dst.load_state_dict(src.state_dict())
    assert dst.weight.data.dtype == torch.float32
    assert rel_error(dst.weight.data, src.weight.data) < 1e-6


def test_load_state_dict_shape_mismatch_names_the_tensor():
    with pytest.raises(ShapeError, match=r"0\.weight.*\(4, 3\).*\(5, 3\)"):
        Sequential(Linear(5, 3)).load_state_dict(Sequential(Linear(4, 3)).state_dict())


def test_load_state_dict_strict_keys():
    state = Sequential(Linear(4, 3)).state_dict()
    with pytest.raises(KeyError, match=r"missing \['1.bias', '1.weight'\]"):
        Sequential(Linear(4, 3), Linear(3, 2)).load_state_dict(state)
    with pytest.raises(KeyError, match=r"unexpected \['0.extra'\]"):
        Sequential(Linear(4, 3)).load_state_dict({**state, "0.extra": torch.zeros(1)})
    Sequential(Linear(4, 3), Linear(3, 2)).load_state_dict(state, strict=False)


# -- layers ---------------------------------------------------------------------------------------


def test_linear_init():
    layer = Linear(400, 300, weight_scale=0.1, dtype=F64)
    assert layer.weight.shape == (400, 300) and layer.bias.shape == (300,)
    assert abs(layer.weight.data.std().item() - 0.1) < 0.01
    assert torch.all(layer.bias.data == 0)
    he = Linear(200, 300, dtype=F64)
    assert abs(he.weight.data.std().item() - (2 / 200) ** 0.5) < 0.01


def test_linear_weight_is_an_ordinary_tensor_with_the_classic_values():
    layer = Linear(6, 4, generator=torch.Generator().manual_seed(3), dtype=F64)
    classic = torch.randn(6, 4, generator=torch.Generator().manual_seed(3), dtype=F64) * (2 / 6) ** 0.5
    assert torch.equal(layer.weight.data, classic)
    assert layer.weight.data.is_contiguous()


def test_linear_weight_grad_is_contiguous_and_right():
    layer = Linear(8, 3, dtype=F64)
    x, dout = torch.randn(5, 8, dtype=F64), torch.randn(5, 3, dtype=F64)
    layer.forward(x)
    layer.backward(dout)
    assert layer.weight.grad.is_contiguous()
    assert rel_error(layer.weight.grad, x.t() @ dout) < 1e-14
    assert check_module(layer, x)["weight"] < 1e-8


def test_load_state_dict_copies_into_contiguous_tensors():
    layer = Linear(8, 3, dtype=F64)
    transposed = {"weight": torch.randn(3, 8, dtype=F64).t(), "bias": torch.randn(3, dtype=F64)}
    layer.load_state_dict(transposed)
    assert torch.equal(layer.weight.data, transposed["weight"])
    assert layer.weight.data.is_contiguous()


@pytest.mark.parametrize("size", [0, -2, 2.5, True])
def test_linear_rejects_bad_sizes(size):
    with pytest.raises(ValueError, match="in_features must be a positive integer"):
        Linear(size, 3)


def test_linear_matches_functional():
    layer = Linear(12, 5, dtype=F64)
    x, dout = torch.randn(3, 3, 4, dtype=F64), torch.randn(3, 5, dtype=F64)
    out = layer.forward(x)
    dx = layer.backward(dout)
    ref_out, cache = F.Linear.forward(x, layer.weight.data, layer.bias.data)
    ref_dx, ref_dw, ref_db = F.Linear.backward(dout, cache)
    assert torch.equal(out, ref_out)
    assert dx.shape == x.shape
    assert rel_error(dx, ref_dx) < 1e-14
    assert rel_error(layer.weight.grad, ref_dw) < 1e-14
    assert rel_error(layer.bias.grad, ref_db) < 1e-14


def test_linear_wrong_feature_size_names_layer_and_sizes():
    layer = Linear(15, 20)
    layer.label = "layer 1 (W1)"
    with pytest.raises(ShapeError, match=r"Linear\(15, 20\) \[layer 1 \(W1\)\]: expected 15 .* got 14"):
        layer.forward(torch.randn(2, 14))


def test_linear_accepts_an_empty_batch():
    assert Linear(4, 3).forward(torch.randn(0, 2, 2)).shape == (0, 3)


def test_linear_input_grad_false_skips_dx():
    layer = Linear(3, 2)
    layer.input_grad = False
    layer.forward(torch.randn(4, 3))
    assert layer.backward(torch.ones(4, 2)) is None
    assert layer.weight.grad is not None


@pytest.mark.parametrize("module", [Linear(3, 2), LinearReLU(3, 2), ReLU()], ids=lambda m: type(m).__name__)
def test_backward_before_forward_is_a_clear_error(module):
    with pytest.raises(RuntimeError, match="backward called before forward"):
        module.backward(torch.ones(4, 2))


def test_relu_module_keeps_input():
    x = torch.randn(4, 5)
    before = x.clone()
    ReLU().forward(x)
    LinearReLU(5, 5).forward(x)
    assert torch.equal(x, before)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_dropout_module_rejects_bad_p(p):
    with pytest.raises(ValueError, match=rf"Dropout: p .*\[0, 1\), got {p}"):
        Dropout(p)


def test_dropout_module_train_and_eval(device):
    x = torch.randn(400, 400, dtype=F64, device=device) + 10
    layer = Dropout(0.4)
    out = layer.forward(x)
    assert abs((out == 0).double().mean().item() - 0.4) < 0.01
    dout = torch.randn_like(x)
    assert torch.equal(layer.backward(dout), dout * (out != 0) / 0.6)
    layer.eval()
    assert torch.equal(layer.forward(x), x)
    assert torch.equal(layer.backward(dout), dout)


def test_dropout_module_seed_fixes_the_mask():
    x = torch.randn(20, 20)
    assert torch.equal(Dropout(0.5, seed=3).forward(x), Dropout(0.5, seed=3).forward(x))
    assert not torch.equal(Dropout(0.5).forward(x), Dropout(0.5).forward(x))


# -- Sequential -----------------------------------------------------------------------------------


def test_sequential_container():
    a, b = Linear(3, 4), ReLU()
    net = Sequential(a, b)
    assert len(net) == 2 and net[0] is a and net[-1] is b and list(net) == [a, b]
    assert "Linear(3, 4)" in repr(net)


def test_sequential_rejects_non_modules():
    with pytest.raises(TypeError, match="item 1 is a builtin_function_or_method, not a minifc.nn.Module"):
        Sequential(Linear(3, 4), torch.relu)


def test_sequential_backward_runs_in_reverse():
    net = small_net()
    x, dout = torch.randn(3, 6, dtype=F64), torch.randn(3, 4, dtype=F64)
    out = net.forward(x)
    dx = net.backward(dout)
    w1, b1, w2, b2 = (p.data for p in net.parameters())
    h, c1 = F.Linear_ReLU.forward(x, w1, b1)
    ref, c2 = F.Linear.forward(h, w2, b2)
    dh, dw2, _ = F.Linear.backward(dout, c2)
    ref_dx, dw1, _ = F.Linear_ReLU.backward(dh, c1)
    assert rel_error(out, ref) < 1e-14
    assert rel_error(dx, ref_dx) < 1e-14
    assert rel_error(net[0].weight.grad, dw1) < 1e-14
    assert rel_error(net[2][0].weight.grad, dw2) < 1e-14


# -- gradient checks ----------------------------------------------------------------------------


def test_check_module_sequential(device):
    net = Sequential(
        Linear(6, 5, dtype=F64, device=device), ReLU(), Dropout(0.5), Linear(5, 3, dtype=F64, device=device)
    )
    net[2].eval()
    errors = check_module(net, torch.randn(4, 6, dtype=F64, device=device))
    assert set(errors) == {"dx", "0.weight", "0.bias", "3.weight", "3.bias"}
    assert max(errors.values()) < 1e-8


def test_check_module_seeded_dropout_in_training(device):
    net = Sequential(LinearReLU(4, 6, dtype=F64, device=device), Dropout(0.3, seed=1))
    assert max(check_module(net, torch.randn(3, 4, dtype=F64, device=device)).values()) < 1e-8


def test_check_module_linear_relu(device):
    errors = check_module(LinearReLU(3, 4, dtype=F64, device=device), torch.randn(5, 3, dtype=F64, device=device))
    assert set(errors) == {"dx", "weight", "bias"}
    assert max(errors.values()) < 1e-8


# -- no autograd, dtype and device ---------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [lambda: Linear(4, 4, dtype=F64), lambda: LinearReLU(4, 4, dtype=F64), ReLU, lambda: Dropout(0.5), small_net],
    ids=["Linear", "LinearReLU", "ReLU", "Dropout", "Sequential"],
)
def test_modules_build_no_graph(make):
    module = make()
    n_in = 6 if isinstance(module, Sequential) else 4
    x = torch.randn(3, n_in, dtype=F64, requires_grad=True)
    out = module.forward(x)
    dx = module.backward(torch.randn(out.shape, dtype=F64, requires_grad=True))
    grads = [p.grad for p in module.parameters()]
    assert all(t.grad_fn is None for t in [out, dx, *grads])


def test_module_grads_follow_dtype_and_device(device, dtype):
    net = small_net(dtype, device)
    out = net.forward(torch.randn(3, 6, dtype=dtype, device=device))
    dx = net.backward(torch.ones_like(out))
    for t in [out, dx, *(p.grad for p in net.parameters())]:
        assert t.dtype == dtype and t.device.type == device.type

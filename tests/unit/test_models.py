import math

import pytest
import torch

from minifc import optim
from minifc.errors import CheckpointError, LabelError, ShapeError
from minifc.gradcheck import compute_numeric_gradient, rel_error
from minifc.models import FullyConnectedNet, TwoLayerNet

pytestmark = pytest.mark.usefixtures("single_thread")

F64 = torch.float64


def numeric_grad_errors(model, X, y):
    _, grads = model.loss(X, y)
    assert set(grads) == set(model.params)
    errors = {}
    for name in sorted(grads):
        grad_num = compute_numeric_gradient(lambda _: model.loss(X, y)[0], model.params[name])
        errors[name] = rel_error(grad_num, grads[name])
    return errors


def softmax_reference(scores, y):
    log_probs = scores - torch.logsumexp(scores, dim=1, keepdim=True)
    return -log_probs[torch.arange(len(y)), y].mean()


# -- TwoLayerNet --------------------------------------------------------------------------------

N, D, H, C = 3, 5, 50, 7


def test_two_layer_net_init(device):
    std = 1e-3
    model = TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, weight_scale=std, dtype=F64, device=device)
    assert set(model.params) == {"W1", "b1", "W2", "b2"}
    assert model.params["W1"].shape == (D, H) and model.params["W2"].shape == (H, C)
    assert abs(model.params["W1"].std().item() - std) < std / 10
    assert abs(model.params["W2"].std().item() - std) < std / 10
    assert torch.all(model.params["b1"] == 0) and torch.all(model.params["b2"] == 0)
    assert all(p.device.type == device.type and p.dtype == F64 for p in model.params.values())


def test_two_layer_net_defaults():
    model = TwoLayerNet()
    assert model.params["W1"].shape == (3072, 100) and model.params["W2"].shape == (100, 10)
    assert model.params["W1"].dtype == torch.float32 and model.reg == 0.0


def classic_two_layer_net(device):
    model = TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, weight_scale=1e-3, dtype=F64, device=device)
    model.params["W1"] = torch.linspace(-0.7, 0.3, D * H, dtype=F64, device=device).reshape(D, H)
    model.params["b1"] = torch.linspace(-0.1, 0.9, H, dtype=F64, device=device)
    model.params["W2"] = torch.linspace(-0.3, 0.4, H * C, dtype=F64, device=device).reshape(H, C)
    model.params["b2"] = torch.linspace(-0.9, 0.1, C, dtype=F64, device=device)
    X = torch.linspace(-5.5, 4.5, N * D, dtype=F64, device=device).reshape(D, N).t()
    return model, X


def test_two_layer_net_scores_with_assigned_params(device):
    model, X = classic_two_layer_net(device)
    p = model.params

    scores = model.loss(X)

    expected = torch.clamp(X @ p["W1"] + p["b1"], min=0) @ p["W2"] + p["b2"]
    classic = [
        [11.53165108, 12.2917344, 13.05181771, 13.81190102, 14.57198434, 15.33206765, 16.09215096],
        [12.05769098, 12.74614105, 13.43459113, 14.1230412, 14.81149128, 15.49994135, 16.18839143],
        [12.58373087, 13.20054771, 13.81736455, 14.43418138, 15.05099822, 15.66781506, 16.2846319],
    ]
    assert scores.shape == (N, C)
    assert (scores - expected).abs().sum().item() < 1e-6
    assert (scores.cpu() - torch.tensor(classic, dtype=F64)).abs().sum().item() < 1e-6


def test_two_layer_net_training_loss(device):
    model, X = classic_two_layer_net(device)
    y = torch.tensor([0, 5, 1], device=device)
    data_loss = softmax_reference(model.loss(X), y).item()

    loss, _ = model.loss(X, y)
    assert abs(loss.item() - data_loss) < 1e-10
    assert abs(loss.item() - 3.4702243556) < 1e-8

    model.reg = 1.0
    loss, _ = model.loss(X, y)
    penalty = (model.params["W1"] ** 2).sum().item() + (model.params["W2"] ** 2).sum().item()
    assert abs(loss.item() - (data_loss + penalty)) < 1e-10
    assert abs(loss.item() - 49.719461034881775) < 1e-8


@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_two_layer_net_gradients(device, reg):
    X = torch.randn(N, D, dtype=F64, device=device)
    y = torch.randint(C, size=(N,), device=device)
    model = TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, weight_scale=5e-2, reg=reg, dtype=F64, device=device)
    errors = numeric_grad_errors(model, X, y)
    assert max(errors.values()) < 1e-6, errors


# -- FullyConnectedNet --------------------------------------------------------------------------


def fc_data(device, n=2, d=15, c=10):
    return torch.randn(n, d, dtype=F64, device=device), torch.randint(c, size=(n,), device=device)


def test_fc_net_params_and_init(device):
    model = FullyConnectedNet([20, 30, 40], input_dim=15, num_classes=10, weight_scale=5e-2, dtype=F64, device=device)
    shapes = {name: tuple(t.shape) for name, t in model.params.items()}
    assert shapes == {
        "W1": (15, 20),
        "b1": (20,),
        "W2": (20, 30),
        "b2": (30,),
        "W3": (30, 40),
        "b3": (40,),
        "W4": (40, 10),
        "b4": (10,),
    }
    assert list(model.params) == ["W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4"]
    assert all(torch.all(model.params[f"b{i}"] == 0) for i in range(1, 5))
    assert abs(model.params["W3"].std().item() - 5e-2) < 5e-3
    assert model.num_layers == 4


def test_fc_net_defaults():
    model = FullyConnectedNet([8])
    assert model.params["W1"].shape == (3072, 8) and model.params["W2"].shape == (8, 10)
    assert model.params["W1"].dtype == torch.float32
    assert abs(model.params["W1"].std().item() - 1e-2) < 1e-3


@pytest.mark.parametrize(
    "reg, dropout, tol",
    [(0.0, 0.0, 1e-5), (3.14, 0.0, 1e-6), (0.0, 0.25, 1e-5), (0.0, 0.5, 1e-5)],
    ids=["reg0", "reg3.14", "dropout0.25", "dropout0.5"],
)
def test_fc_net_gradients(device, reg, dropout, tol):
    X, y = fc_data(device)
    model = FullyConnectedNet(
        [20, 30],
        input_dim=15,
        num_classes=10,
        reg=reg,
        weight_scale=5e-2,
        dropout=dropout,
        seed=123,
        dtype=F64,
        device=device,
    )
    if reg == 0.0:
        loss, _ = model.loss(X, y)
        assert abs(loss.item() - math.log(10)) < 0.1
    errors = numeric_grad_errors(model, X, y)
    assert max(errors.values()) < tol, errors


def test_fc_net_dropout_only_in_training():
    X, y = fc_data("cpu", n=50)
    model = FullyConnectedNet([40], input_dim=15, dropout=0.5, dtype=F64)
    assert torch.equal(model.loss(X), model.loss(X))
    assert model.loss(X, y)[0].item() != model.loss(X, y)[0].item()
    no_dropout = FullyConnectedNet([40], input_dim=15, dtype=F64)
    no_dropout.params = dict(model.params)
    assert torch.equal(model.loss(X), no_dropout.loss(X))


def test_fc_net_l2_penalty_is_reg_sum_w_squared_without_biases():
    X, y = fc_data("cpu")
    model = FullyConnectedNet([6, 7], input_dim=15, reg=0.5, dtype=F64)
    model.params["b1"] = torch.full((6,), 0.3, dtype=F64)
    data_loss = softmax_reference(model.loss(X), y).item()
    penalty = sum((model.params[f"W{i}"] ** 2).sum().item() for i in (1, 2, 3))

    loss, grads = model.loss(X, y)

    assert abs(loss.item() - (data_loss + 0.5 * penalty)) < 1e-12
    model.reg = 0.0
    _, plain = model.loss(X, y)
    assert rel_error(grads["W2"], plain["W2"] + 2 * 0.5 * model.params["W2"]) < 1e-12
    assert rel_error(grads["b1"], plain["b1"]) < 1e-12


# -- params view, save and load --------------------------------------------------------------------


def test_params_item_assignment_takes_effect():
    X, _ = fc_data("cpu")
    model = FullyConnectedNet([6], input_dim=15, dtype=F64)
    before = model.loss(X)
    model.params["W2"] = torch.zeros(6, 10, dtype=F64)
    model.params["b2"] = torch.arange(10, dtype=F64)
    after = model.loss(X)
    assert not torch.equal(before, after)
    assert torch.equal(after, torch.arange(10, dtype=F64).expand(2, 10))


def test_params_whole_dict_assignment():
    X, _ = fc_data("cpu")
    model = TwoLayerNet(input_dim=15, hidden_dim=6, num_classes=10, dtype=F64)
    other = TwoLayerNet(input_dim=15, hidden_dim=6, num_classes=10, dtype=F64)
    model.params = {name: t.clone() for name, t in other.params.items()}
    assert torch.equal(model.loss(X), other.loss(X))
    new = {name: t.clone() for name, t in model.params.items()}
    new["b2"] = torch.ones(10, dtype=F64)
    model.params = new
    assert model.params is new  # the course's habit: the model now holds that very dict
    assert torch.equal(model.net[1].bias.data, torch.ones(10, dtype=F64))
    with pytest.raises(KeyError, match="params lacks W1, b1, W2"):
        model.params = {"b2": torch.ones(10, dtype=F64)}


def test_params_assignment_checks_name_and_shape():
    model = TwoLayerNet(input_dim=4, hidden_dim=3, num_classes=2)
    model.params["W1"] = torch.zeros(3, 4)  # a plain dict: checked when the model next computes
    with pytest.raises(ShapeError, match=r"params\['W1'\].*\(3, 4\).*\(4, 3\)"):
        model.loss(torch.zeros(2, 4))
    with pytest.raises(KeyError, match="W3"):
        model.params = {**model.params, "W1": torch.zeros(4, 3), "W3": torch.zeros(3, 4)}


def test_classic_training_loop_through_params():
    X, y = fc_data("cpu", n=20)
    model = FullyConnectedNet([30], input_dim=15, weight_scale=1e-1, dtype=F64)
    configs = {name: {"learning_rate": 1e-2} for name in model.params}
    first = model.loss(X, y)[0].item()
    for _ in range(30):
        _, grads = model.loss(X, y)
        for name, w in model.params.items():
            model.params[name], configs[name] = optim.adam(w, grads[name], configs[name])
    assert model.loss(X, y)[0].item() < first / 2


@pytest.mark.parametrize(
    "make",
    [
        lambda: TwoLayerNet(input_dim=15, hidden_dim=6, num_classes=10, reg=0.1, dtype=F64),
        lambda: FullyConnectedNet([6, 4], input_dim=15, dropout=0.25, seed=3, reg=0.2, dtype=F64),
    ],
    ids=["TwoLayerNet", "FullyConnectedNet"],
)
def test_save_load_roundtrip(tmp_path, make, capsys):
    X, y = fc_data("cpu")
    model = make()
    path = tmp_path / "model.pt"
    model.save(path)

    raw = torch.load(path, weights_only=True)
    assert set(raw["params"]) == set(model.params)

    restored = TwoLayerNet() if isinstance(model, TwoLayerNet) else FullyConnectedNet([1])
    restored.load(path, dtype=F64)
    assert restored.reg == model.reg
    assert torch.equal(restored.loss(X), model.loss(X))
    assert torch.equal(restored.loss(X, y)[0], model.loss(X, y)[0])

    single = type(model).__new__(type(model))
    single.load(path, dtype=torch.float32)
    assert all(t.dtype == torch.float32 for t in single.params.values())
    assert rel_error(single.loss(X.float()), model.loss(X)) < 1e-5
    assert "Saved in" in capsys.readouterr().out


def test_load_refuses_another_model(tmp_path):
    path = tmp_path / "two.pt"
    TwoLayerNet(input_dim=4, hidden_dim=3, num_classes=2).save(path)
    with pytest.raises(CheckpointError, match="two.pt: it holds a TwoLayerNet, not a FullyConnectedNet"):
        FullyConnectedNet([3]).load(path)


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_cls", [TwoLayerNet, FullyConnectedNet])
def test_wrong_feature_size_names_first_layer_and_sizes(model_cls):
    kwargs = {"hidden_dims": [20]} if model_cls is FullyConnectedNet else {"hidden_dim": 20}
    model = model_cls(input_dim=15, **kwargs)
    with pytest.raises(ShapeError, match=r"\(15, 20\) \[layer 1 \(W1\)\]: expected 15 .*got 14"):
        model.loss(torch.randn(2, 14))


@pytest.mark.parametrize(
    "y, pattern",
    [
        (torch.tensor([0, -1]), r"\[0, 10\).*-1"),
        (torch.tensor([0, 10]), r"\[0, 10\).*10"),
        (torch.tensor([0.0, 1.0]), r"integers.*float32"),
        (torch.tensor([0, 1, 2]), r"expected 2 labels.*\(3,\)"),
    ],
    ids=["negative", "too large", "float", "wrong length"],
)
def test_model_loss_rejects_bad_labels(y, pattern):
    model = FullyConnectedNet([5], input_dim=15)
    with pytest.raises(LabelError, match=pattern):
        model.loss(torch.randn(2, 15), y)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_fc_net_rejects_bad_dropout(p):
    with pytest.raises(ValueError, match=rf"FullyConnectedNet dropout.*\[0, 1\), got {p}"):
        FullyConnectedNet([5], dropout=p)


@pytest.mark.parametrize(
    "hidden_dims, pattern",
    [([], "non-empty"), ([0], r"hidden_dims\[0\].*got 0"), ([20, -3], r"hidden_dims\[1\].*got -3"), (5, "list")],
)
def test_fc_net_rejects_bad_hidden_dims(hidden_dims, pattern):
    with pytest.raises(ValueError, match=pattern):
        FullyConnectedNet(hidden_dims)


def test_two_layer_net_rejects_bad_sizes():
    with pytest.raises(ValueError, match="hidden_dim must be a positive integer, got 0"):
        TwoLayerNet(hidden_dim=0)


@pytest.mark.parametrize("model_cls", [TwoLayerNet, FullyConnectedNet])
def test_x_is_cast_to_the_model_dtype(model_cls):
    kwargs = {"hidden_dims": [5]} if model_cls is FullyConnectedNet else {"hidden_dim": 5}
    model = model_cls(input_dim=4, dtype=torch.float32, **kwargs)
    X = torch.randn(2, 4, dtype=F64)
    assert torch.equal(model.loss(X), model.loss(X.float()))
    with pytest.raises(TypeError, match="expected floating-point data"):
        model.loss(torch.ones(2, 4, dtype=torch.int64))


def test_x_must_be_a_tensor():
    with pytest.raises(TypeError, match="X must be a torch.Tensor, got list"):
        FullyConnectedNet([5], input_dim=2).loss([[1.0, 2.0]])


# -- no autograd, dtype and device ---------------------------------------------------------------


def test_model_loss_builds_no_graph():
    X, y = fc_data("cpu")
    model = FullyConnectedNet([6, 5], input_dim=15, dropout=0.3, seed=0, reg=0.1, dtype=F64)
    for name, t in model.params.items():
        model.params[name] = t.clone().requires_grad_()
    X.requires_grad_()
    scores = model.loss(X)
    loss, grads = model.loss(X, y)
    assert all(t.grad_fn is None for t in [scores, loss, *grads.values()])


def test_training_step_never_calls_autograd(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("autograd was called")

    monkeypatch.setattr(torch.Tensor, "backward", forbidden)
    monkeypatch.setattr(torch.autograd, "grad", forbidden)
    monkeypatch.setattr(torch.autograd, "backward", forbidden)
    X, y = fc_data("cpu", n=8)
    model = FullyConnectedNet([10, 10], input_dim=15, dropout=0.5, reg=0.1, dtype=F64)
    configs = {name: {} for name in model.params}
    for _ in range(2):
        _, grads = model.loss(X, y)
        for name, w in model.params.items():
            model.params[name], configs[name] = optim.sgd_momentum(w, grads[name], configs[name])


def test_loss_and_grads_follow_model_dtype_and_device(device, dtype):
    model = FullyConnectedNet([6], input_dim=15, dropout=0.2, dtype=dtype, device=device)
    X = torch.randn(4, 15, dtype=dtype, device=device)
    y = torch.randint(10, (4,), device=device)
    loss, grads = model.loss(X, y)
    for t in [model.loss(X), loss, *grads.values()]:
        assert t.dtype == dtype and t.device.type == device.type
    assert all(grads[name].shape == t.shape for name, t in model.params.items())

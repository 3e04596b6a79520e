"""SGD and Adam against torch.optim, step by step; bad settings."""
import numpy as np
import pytest

from localrnn.optim import Adam, make_optimizer

torch = pytest.importorskip("torch", reason="PyTorch is the reference; install the 'test' extra")


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_matches_torch_optim(kind, rng):
    shapes = {"W": (4, 4), "b": (4,)}
    params = {k: rng.standard_normal(s) for k, s in shapes.items()}
    tparams = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    lr = {"W": 0.03, "b": 0.01}
    opt = make_optimizer(kind, params, lr)
    groups = [{"params": [tparams[k]], "lr": lr[k]} for k in shapes]
    topt = torch.optim.SGD(groups) if kind == "sgd" else torch.optim.Adam(groups)
    for _ in range(20):
        grads = {k: rng.standard_normal(s) for k, s in shapes.items()}
        opt.step(grads)
        for k in shapes:
            tparams[k].grad = torch.tensor(grads[k])
        topt.step()
    for k in shapes:
        np.testing.assert_allclose(params[k], tparams[k].detach().numpy(), rtol=1e-13, atol=1e-15)


def test_zero_lr_freezes_and_state_round_trips(rng):
    p = {"W": rng.standard_normal((3, 3)), "b": rng.standard_normal(3)}
    b0 = p["b"].copy()
    opt = Adam(p, {"W": 0.1})
    for _ in range(3):
        opt.step({"W": np.ones((3, 3)), "b": np.ones(3)})
    # no arithmetic touches a parameter without a learning rate
    np.testing.assert_array_equal(p["b"], b0)
    # continuing from a saved state equals not stopping
    q = {k: v.copy() for k, v in p.items()}
    opt2 = Adam(q, {"W": 0.1})
    opt2.load_state_dict({k: np.array(v, copy=True) for k, v in opt.state_dict().items()})
    g = {"W": rng.standard_normal((3, 3)), "b": np.zeros(3)}
    opt.step(g)
    opt2.step(g)
    # same computation: the same Adam step from the same state (a resume)
    np.testing.assert_array_equal(p["W"], q["W"])


@pytest.mark.parametrize("args, match", [
    (("adamw", 0.1), r"optimizer='adamw'"),
    (("sgd", -1.0), r"lr=-1.0 is out of range"),
    (("sgd", {"W": 0.1, "V": 0.2}), r"lr has unknown parameter names \['V'\]"),
])
def test_bad_settings(args, match):
    with pytest.raises(ValueError, match=match):
        make_optimizer(args[0], {"W": np.zeros(2)}, args[1])


def test_all_finite_matches_numpy():
    from localrnn.optim import all_finite

    for dt in (np.float32, np.float64):
        a, b = np.ones((3, 4), dt), np.zeros(5, dt)
        assert all_finite([a, b]) and all_finite([])
        for bad in (np.nan, np.inf, -np.inf):
            c = b.copy()
            c[4] = bad
            assert not all_finite([a, c]) and not all_finite([c.reshape(1, 5)[:, ::-1]])
            assert not all_finite([a, b, b, a, c]) and all_finite([a, b, b, a, b])
            assert not all_finite([a, b, b, a, b, c])            # six: NumPy's path
    assert not all_finite([np.ones(2, np.float32), np.array([np.nan])])   # mixed dtypes
    assert all_finite([np.ones(2, np.float32), np.arange(3)])

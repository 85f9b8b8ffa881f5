"""Learning-rate schedules against PyTorch's lr sequences (two param groups, 40 epochs), state_dict resume."""
import math
import pickle

import numpy as np
import pytest

import tensorforge as tf
from helpers import torch_module

EPOCHS = 40
# PyTorch warns that its schedulers step before any optimizer.step(); only the lr sequence matters here.
pytestmark = pytest.mark.filterwarnings("ignore:Detected call of")


def optimizers(torch, name="SGD"):
    ours_p = [tf.ones(2, requires_grad=True), tf.ones(3, requires_grad=True)]
    torch_p = [torch.ones(2, requires_grad=True), torch.ones(3, requires_grad=True)]
    kw = dict(momentum=0.9) if name == "SGD" else {}
    ours = getattr(tf.optim, name)([{"params": ours_p[:1]}, {"params": ours_p[1:], "lr": 0.05}], lr=0.1, **kw)
    theirs = getattr(torch.optim, name)([{"params": torch_p[:1]}, {"params": torch_p[1:], "lr": 0.05}], lr=0.1, **kw)
    return ours, theirs


def warm_then_cosine(m, opt):
    return m.SequentialLR(opt, [m.LinearLR(opt, start_factor=0.1, total_iters=5),
                                m.CosineAnnealingLR(opt, T_max=EPOCHS - 8, eta_min=1e-4)], milestones=[8])


SCHEDULES = {
    "StepLR": lambda m, o: m.StepLR(o, step_size=7, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[3, 10, 10, 25], gamma=0.3),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.93),
    "LinearLR": lambda m, o: m.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=12),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=9, eta_min=0.001),
    "LambdaLR": lambda m, o: m.LambdaLR(o, lambda e: 1.0 / (1 + e) ** 0.5),
    "LambdaLR-per-group": lambda m, o: m.LambdaLR(o, [lambda e: 0.9 ** e, lambda e: 1 + e % 3]),
    "SequentialLR": warm_then_cosine,
    "OneCycleLR": lambda m, o: m.OneCycleLR(o, max_lr=[0.5, 0.2], total_steps=EPOCHS + 1, pct_start=0.25),
    "OneCycleLR-linear-3phase": lambda m, o: m.OneCycleLR(o, max_lr=0.4, epochs=7, steps_per_epoch=6,
                                                          anneal_strategy="linear", three_phase=True),
    "Chained": lambda m, o: [m.ExponentialLR(o, gamma=0.95), m.StepLR(o, step_size=4, gamma=0.5)],
}


def schedule_lrs(module, opt, make, epochs):
    scheds = make(module, opt)
    scheds = scheds if isinstance(scheds, list) else [scheds]
    seq = [list(scheds[-1].get_last_lr())]
    momenta = [[g.get("momentum", g.get("betas", (None,))[0]) for g in opt.param_groups]]
    for _ in range(epochs):
        for s in scheds:
            s.step()
        seq.append(list(scheds[-1].get_last_lr()))
        momenta.append([g.get("momentum", g.get("betas", (None,))[0]) for g in opt.param_groups])
        assert seq[-1] == [g["lr"] for g in opt.param_groups]
    return np.array(seq, dtype=np.float64), momenta, scheds


@pytest.mark.parametrize("name", list(SCHEDULES))
@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
def test_matches_torch(name, opt_name):
    torch = torch_module()
    ours, theirs = optimizers(torch, opt_name)
    a, ma, _ = schedule_lrs(tf.optim.lr_scheduler, ours, SCHEDULES[name], EPOCHS)
    b, mb, _ = schedule_lrs(torch.optim.lr_scheduler, theirs, SCHEDULES[name], EPOCHS)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)
    np.testing.assert_allclose(np.array(ma, dtype=np.float64), np.array(mb, dtype=np.float64), rtol=1e-12)


@pytest.mark.parametrize("name", [n for n in SCHEDULES if n != "Chained"])
def test_state_dict_resume(name):
    """Stop after 13 epochs, save scheduler + optimizer, rebuild both fresh, load, finish: same sequence."""
    torch = torch_module()
    ours, _ = optimizers(torch)
    full, _, _ = schedule_lrs(tf.optim.lr_scheduler, ours, SCHEDULES[name], EPOCHS)
    ours, _ = optimizers(torch)
    head, _, scheds = schedule_lrs(tf.optim.lr_scheduler, ours, SCHEDULES[name], 13)
    saved = pickle.dumps((ours.state_dict(), scheds[0].state_dict()))
    fresh, _ = optimizers(torch)
    sched = SCHEDULES[name](tf.optim.lr_scheduler, fresh)
    opt_state, sched_state = pickle.loads(saved)
    fresh.load_state_dict(opt_state)
    sched.load_state_dict(sched_state)
    tail = []
    for _ in range(EPOCHS - 13):
        sched.step()
        tail.append(sched.get_last_lr())
    np.testing.assert_array_equal(np.vstack([head, tail]), full)


def test_epoch_argument_uses_the_closed_form():
    torch = torch_module()
    ours, theirs = optimizers(torch)
    a = tf.optim.lr_scheduler.CosineAnnealingLR(ours, T_max=10)
    b = torch.optim.lr_scheduler.CosineAnnealingLR(theirs, T_max=10)
    with pytest.warns(UserWarning):
        b.step(7)
    a.step(7)
    assert a.last_epoch == 7
    np.testing.assert_allclose(a.get_last_lr(), b.get_last_lr(), rtol=1e-12)


def test_reduce_lr_on_plateau_matches_torch():
    torch = torch_module()
    metrics = [1.0, 0.9, 0.9, 0.91, 0.95, 0.9, 0.89, 0.9, 0.9, 0.9, 0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5] * 2
    for kw in (dict(patience=2), dict(mode="max", factor=0.5, patience=1, cooldown=2),
               dict(threshold_mode="abs", threshold=0.05, patience=0, min_lr=[0.02, 0.01])):
        ours, theirs = optimizers(torch)
        a = tf.optim.lr_scheduler.ReduceLROnPlateau(ours, **kw)
        b = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs, **kw)
        for m in metrics:
            a.step(m)
            b.step(m)
            assert a.get_last_lr() == pytest.approx(b.get_last_lr(), rel=1e-12)
            assert a.num_bad_epochs == b.num_bad_epochs and a.last_epoch == b.last_epoch


def test_errors():
    p = tf.ones(2, requires_grad=True)
    opt = tf.optim.SGD([p], lr=0.1)
    m = tf.optim.lr_scheduler
    with pytest.raises(TypeError, match="not an Optimizer"):
        m.StepLR("sgd", step_size=2)
    with pytest.raises(ValueError, match="start_factor"):
        m.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match="lr_lambdas"):
        m.LambdaLR(opt, [lambda e: 1.0, lambda e: 1.0])
    with pytest.raises(ValueError, match="Factor"):
        m.ReduceLROnPlateau(opt, factor=1.5)
    with pytest.raises(ValueError, match="total_steps"):
        m.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="milestone"):
        m.SequentialLR(opt, [m.ExponentialLR(opt, 0.9)], milestones=[3])
    with pytest.raises(KeyError, match="initial_lr"):
        m.StepLR(tf.optim.SGD([tf.ones(1, requires_grad=True)], lr=0.1), step_size=2, last_epoch=4)
    sched = m.OneCycleLR(tf.optim.SGD([tf.ones(1, requires_grad=True)], lr=0.1, momentum=0.9), max_lr=1.0,
                         total_steps=3)
    with pytest.raises(ValueError, match="Tried to step"):
        for _ in range(4):
            sched.step()
    assert math.isfinite(sched.get_last_lr()[0])

"""Learning-rate schedules against torch.optim.lr_scheduler over 30 epochs."""

import numpy as np
import pytest
import torch

from i2dl_lab.nn import lr_scheduler as sch
from i2dl_lab.nn import optim

EPOCHS = 30
BASE = 0.1


def torch_lrs(make_sched, base=BASE, epochs=EPOCHS):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=base)
    sched = make_sched(opt)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


def our_lrs(make_sched, base=BASE, epochs=EPOCHS):
    params, grads = {"w": np.zeros(1)}, {"w": np.zeros(1)}
    opt = optim.SGD(params, lr=base, grads=grads)
    sched = make_sched(opt)
    out = []
    for _ in range(epochs):
        out.append(opt.lr)
        assert sched.get_last_lr() == [opt.lr]
        opt.step()
        sched.step()
    return np.array(out), sched


CASES = [
    ("step", lambda o: sch.StepLR(o, step_size=7, gamma=0.5),
     lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5),
     lambda e: sch.step_lr(e, BASE, 7, 0.5)),
    ("exponential", lambda o: sch.ExponentialLR(o, gamma=0.85),
     lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.85),
     lambda e: sch.exponential_lr(e, BASE, 0.85)),
    ("cosine", lambda o: sch.CosineAnnealingLR(o, T_max=30, eta_min=1e-3),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=30, eta_min=1e-3),
     lambda e: sch.cosine_lr(e, BASE, 30, 1e-3)),
    ("cosine_past_T_max", lambda o: sch.CosineAnnealingLR(o, T_max=12),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=12),
     lambda e: sch.cosine_lr(e, BASE, 12)),
    ("inverse_time", lambda o: sch.InverseTimeLR(o, decay_rate=1.0),
     lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: 1.0 / (1.0 + e)),
     lambda e: sch.inverse_time_lr(e, BASE, 1.0)),
]


@pytest.mark.parametrize("name,ours,theirs,fn", CASES, ids=[c[0] for c in CASES])
def test_scheduler_matches_torch_for_30_epochs(name, ours, theirs, fn):
    got, sched = our_lrs(ours)
    expected = torch_lrs(theirs)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    assert len(np.unique(np.round(got, 12))) > 1, "the schedule must change the rate"
    # the plain function gives the same values, vectorised, without any optimizer
    np.testing.assert_allclose(fn(np.arange(EPOCHS)), expected, rtol=1e-9, atol=1e-12)
    assert sched.last_epoch == EPOCHS
    assert isinstance(fn(3), float)


def test_lecture_inverse_time_example_values():
    # lecture: lr0 = 0.1, decay_rate = 1 -> 0.1, 0.05, 0.033, 0.025
    np.testing.assert_allclose(sch.inverse_time_lr(np.arange(4), 0.1, 1.0), [0.1, 0.05, 0.1 / 3, 0.025])


def test_cosine_warmup_matches_torch_linear_then_cosine():
    warm, T_max, start = 5, 30, 0.01
    ours, _ = our_lrs(lambda o: sch.CosineAnnealingLR(o, T_max=T_max, warmup_epochs=warm, warmup_start_lr=start))
    linear = torch_lrs(lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=start / BASE, end_factor=1.0,
                                                                   total_iters=warm), epochs=warm)
    cosine = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=T_max - warm),
                       epochs=EPOCHS - warm)
    np.testing.assert_allclose(ours[:warm], linear, rtol=1e-9)
    np.testing.assert_allclose(ours[warm:], cosine, rtol=1e-9, atol=1e-12)
    assert ours[0] == pytest.approx(start) and ours[warm] == pytest.approx(BASE)
    assert np.all(np.diff(ours[:warm + 1]) > 0)


def test_function_only_scheduler_with_base_lr():
    s = sch.StepLR(step_size=2, gamma=0.1, base_lr=1.0)
    assert s.last_lr == 1.0
    s.step()
    s.step()
    assert s.last_lr == pytest.approx(0.1)
    assert s(4) == pytest.approx(0.01)


def test_scheduler_sets_the_lr_that_the_next_optimizer_step_uses():
    params, grads = {"w": np.zeros(1)}, {"w": np.ones(1)}
    opt = optim.SGD(params, lr=1.0, grads=grads)
    s = sch.StepLR(opt, step_size=1, gamma=0.5)
    opt.step()            # epoch 0: lr 1.0
    s.step()
    opt.step()            # epoch 1: lr 0.5
    np.testing.assert_allclose(params["w"], [-1.5])


@pytest.mark.parametrize("make,match", [
    (lambda: sch.StepLR(base_lr=0.1, step_size=0), "step_size must be an integer >= 1, got 0"),
    (lambda: sch.ExponentialLR(base_lr=0.1, gamma=-0.5), "gamma must be a positive number, got -0.5"),
    (lambda: sch.CosineAnnealingLR(base_lr=0.1, T_max=5, warmup_epochs=5), "warmup_epochs must be smaller"),
    (lambda: sch.CosineAnnealingLR(base_lr=0.1, T_max=5, eta_min=-1.0), "eta_min must be a non-negative"),
    (lambda: sch.step_lr(-1, 0.1, 2), "epoch must be >= 0"),
    (lambda: sch.cosine_lr(1, 0.0, 10), "base_lr must be a positive number, got 0.0"),
])
def test_bad_schedule_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_scheduler_needs_optimizer_or_base_lr():
    with pytest.raises(TypeError, match="optimizer .* or base_lr"):
        sch.ExponentialLR(gamma=0.9)

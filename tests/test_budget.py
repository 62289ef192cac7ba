"""Time estimates: the bound that measures nothing is above the measured estimate, so skipping the estimate is safe."""

import pytest

import dufm
from dufm.solving.budget import STEP_WORK, estimate_seconds, flops_per_step, seconds_at_most
from dufm.solving.config import OPTIMIZERS


@pytest.mark.parametrize("kw", [dict(), dict(width=256, depth=3), dict(classes=3, per_class=2, width=4)])
def test_the_unmeasured_bound_is_above_the_estimate(kw):
    arch = dufm.Problem(**kw).architecture
    for steps, runs, devices in ((1, 10, 2), (4000, 10, 2), (100_000, 1, 1)):
        bound = seconds_at_most(arch, steps, runs, devices)
        assert bound >= estimate_seconds(arch, steps, runs, devices) > 0
        assert bound == pytest.approx(-(-runs // min(devices, runs)) * steps * flops_per_step(arch) / 2e8, rel=1e-15)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_a_step_costs_its_optimizers_work_in_gd_steps(optimizer):
    # the product rate is measured once per shape (cached), so the ratio is the work factor exactly
    arch = dufm.Problem(classes=3, per_class=2, width=4).architecture
    gd = estimate_seconds(arch, 1000, 3, 2)
    assert estimate_seconds(arch, 1000, 3, 2, optimizer) == pytest.approx(STEP_WORK[optimizer] * gd, rel=1e-15)
    assert seconds_at_most(arch, 1000, 3, 2, optimizer) >= estimate_seconds(arch, 1000, 3, 2, optimizer)
    assert STEP_WORK[optimizer] >= 1.0

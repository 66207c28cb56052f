import math

import pytest

from tlkeras.callbacks.domain_adversarial_schedule import DomainAdversarialSchedule


def test_ganin_ramp_values():
    schedule = DomainAdversarialSchedule(max_weight=0.5)

    assert schedule.weight(0.0) == 0.0
    assert schedule.weight(0.5) == pytest.approx(0.5 * (2 / (1 + math.exp(-5)) - 1))
    assert schedule.weight(1.0) == pytest.approx(0.5 * 0.999909, rel=1e-5)
    assert schedule.weight(2.0) == schedule.weight(1.0)


def test_constant_and_callable_schedules():
    assert DomainAdversarialSchedule(0.3).weight(0.7) == 0.3
    assert DomainAdversarialSchedule(lambda p: p**2).weight(0.5) == 0.25


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"schedule": "linear"}, "schedule"),
        ({"max_weight": -1.0}, "max_weight"),
        ({"gamma": 0}, "gamma"),
    ],
)
def test_rejects_bad_arguments_naming_them(kwargs, name):
    with pytest.raises(ValueError, match=f"Received: {name}="):
        DomainAdversarialSchedule(**kwargs)

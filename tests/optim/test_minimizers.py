"""Local minimizers: known minima, the relative-decrease convergence criterion, gradients."""

import numpy as np
import pytest

from powdex.optim import LBFGS, STATUS_OUT_OF_BOUNDS, STATUS_RAISED, NLopt, Objective, TrustRegion
from powdex.optim.errors import ConfigError
from powdex.optim.minimizers import MACHINE_PRECISION, NLOPT_ALGORITHMS
from powdex.optim.objective import central_difference_gradient
from powdex.optim.testfunctions import (
    HARTMANN6_MINIMUM,
    hartmann6,
    hartmann6_gradient,
    hartmann6_hessian,
    hartmann6_value,
    rastrigin_gradient,
    rastrigin_value,
    rosenbrock,
    volcano,
)

SEED = np.random.SeedSequence(7, spawn_key=(0, 1))

MINIMIZERS = [
    LBFGS(conv_threshold=1e3, max_iter=500),
    TrustRegion(kind="dogleg"),
    TrustRegion(kind="trust-exact"),
    NLopt(algorithm="LN_BOBYQA", xtol_rel=1e-10),
    NLopt(algorithm="LN_NELDERMEAD", xtol_rel=1e-12, maxeval=20_000),
    NLopt(algorithm="LD_LBFGS", xtol_rel=1e-12),
    NLopt(algorithm="LD_SLSQP", xtol_rel=1e-12),
]


@pytest.mark.parametrize("minimizer", MINIMIZERS, ids=lambda m: getattr(m, "algorithm", m.kind))
def test_finds_rosenbrock_minimum(minimizer):
    objective = rosenbrock(2)
    result = minimizer.minimize(objective, objective.x0, SEED)
    np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-4)
    assert result.value < 1e-8
    assert result.nfev >= result.path.shape[0] > 0


@pytest.mark.parametrize("minimizer", MINIMIZERS, ids=lambda m: getattr(m, "algorithm", m.kind))
def test_finds_hartmann6_global_minimum_from_its_basin(minimizer):
    # Hartmann-6 is bounded to [0, 1]^6 and has six local minima.
    start = np.array([0.3, 0.25, 0.4, 0.35, 0.35, 0.6])
    result = minimizer.minimize(hartmann6(), start, SEED)
    value, x = HARTMANN6_MINIMUM
    np.testing.assert_allclose(result.x, x, atol=1e-5)
    assert result.value == pytest.approx(value, abs=1e-5)


@pytest.mark.parametrize("minimizer", [m for m in MINIMIZERS if not isinstance(m, TrustRegion)],
                         ids=lambda m: getattr(m, "algorithm", m.kind))
def test_bounded_minimizers_stop_on_an_active_bound(minimizer):
    # Bounds x0 >= 0.3 cut off the global minimum (x0 = 0.2017): the box
    # minimum lies on that bound, where the gradient pushes outward (KKT) and
    # vanishes along the free parameters.
    objective = Objective(hartmann6_value, 6, grad=hartmann6_gradient, bounds=[(0.3, 1.0)] + [(0.0, 1.0)] * 5)
    result = minimizer.minimize(objective, np.array([0.35, 0.25, 0.4, 0.35, 0.35, 0.6]), SEED)
    gradient = hartmann6_gradient(result.x)
    assert result.x[0] == pytest.approx(0.3, abs=1e-7)
    assert gradient[0] > 1.0
    np.testing.assert_allclose(gradient[1:], 0.0, atol=1e-4)
    # The reported norm is the projected gradient's: the outward push at the bound is no residual.
    assert result.success and result.grad_norm < 1e-4


@pytest.mark.parametrize("kind", ["dogleg", "trust-exact"])
def test_trust_regions_ending_outside_the_bounds_are_failures(kind):
    # Unconstrained Newton steps walk from the box x0 >= 0.3 to the global minimum at x0 = 0.2017.
    objective = Objective(hartmann6_value, 6, grad=hartmann6_gradient, hess=hartmann6_hessian,
                          bounds=[(0.3, 1.0)] + [(0.0, 1.0)] * 5)
    result = TrustRegion(kind=kind).minimize(objective, np.array([0.35, 0.25, 0.4, 0.35, 0.35, 0.6]))
    assert result.x[0] == pytest.approx(0.2017, abs=1e-3)
    assert (result.status, result.success, result.admissible) == (STATUS_OUT_OF_BOUNDS, False, False)
    assert result.message.startswith("ended outside the bounds in parameters [0] (the algorithm said: ")


def test_global_nlopt_finds_hartmann6_global_minimum():
    result = NLopt(algorithm="GN_DIRECT_L", maxeval=4000).minimize(hartmann6(), np.full(6, 0.5), SEED)
    assert result.value < HARTMANN6_MINIMUM[0] + 1e-2


@pytest.mark.parametrize("threshold", [1e3, 1e6, 1e9])
def test_lbfgs_stops_where_the_relative_change_criterion_says(threshold):
    # path holds f at the start and after every iteration: the run must stop
    # at the first iteration whose relative change is <= c_t * p_m.
    objective = rosenbrock(2)
    result = LBFGS(conv_threshold=threshold, max_iter=10_000).minimize(objective, objective.x0, SEED)
    f = result.path[:, -1]
    changes = (f[:-1] - f[1:]) / np.maximum(np.maximum(abs(f[:-1]), abs(f[1:])), 1.0)
    assert "RELATIVE REDUCTION" in result.message
    assert result.nit == len(changes)
    assert changes[-1] <= threshold * MACHINE_PRECISION
    assert np.all(changes[:-1] > threshold * MACHINE_PRECISION)


def test_lbfgs_stops_at_max_iter():
    objective = rosenbrock(2)
    result = LBFGS(max_iter=5).minimize(objective, objective.x0, SEED)
    assert result.nit == 5 and not result.success


def test_central_differences_match_analytic_gradients():
    rng = np.random.default_rng(3)
    for fun, grad, dim in [(hartmann6_value, hartmann6_gradient, 6), (rastrigin_value, rastrigin_gradient, 4),
                           (rosenbrock().fun, rosenbrock().grad, 5)]:
        for x in rng.uniform(0.05, 0.95, size=(5, dim)):
            np.testing.assert_allclose(central_difference_gradient(fun, x, 1e-6), grad(x), rtol=1e-6, atol=1e-6)


class Recording:
    """rosenbrock, remembering every point it is evaluated at."""

    def __init__(self):
        self.points = []

    def __call__(self, x):
        self.points.append(np.array(x))
        return rosenbrock().fun(x)


def test_lbfgs_without_gradient_uses_central_differences_of_gradient_epsilon_and_counts_their_cost():
    analytic = LBFGS(conv_threshold=1e3).minimize(rosenbrock(2), np.array([-1.2, 1.0]))
    recording = Recording()
    numeric = LBFGS(conv_threshold=1e3, gradient_epsilon=1e-3).minimize(Objective(recording, 2), [-1.2, 1.0])
    np.testing.assert_allclose(numeric.x, analytic.x, atol=1e-3)
    # The first gradient probes the start at exactly +-epsilon along each axis.
    start = np.array([-1.2, 1.0])
    probes = [start + sign * 1e-3 * axis for axis in np.eye(2) for sign in (1, -1)]
    np.testing.assert_array_equal(recording.points[1:5], probes)
    # Every gradient costs 2 * dim evaluations on top of the value itself, all counted.
    assert numeric.nfev == len(recording.points) >= 5 * numeric.nit


def test_trust_region_refuses_objective_without_hessian():
    objective = Objective(hartmann6_value, 6, grad=hartmann6_gradient, name="no-hessian")
    with pytest.raises(ConfigError, match="dogleg needs an analytic gradient and Hessian.*lacks a Hessian"):
        TrustRegion(kind="dogleg").minimize(objective, np.full(6, 0.5), SEED)


def test_global_nlopt_without_bounds_is_refused_before_it_runs():
    calls = []
    objective = Objective(lambda x: calls.append(x) or 0.0, 2, bounds=[(0, 1), (-np.inf, 1)], name="half-open")
    with pytest.raises(ConfigError, match=r"GN_DIRECT is a global algorithm and needs finite bounds.*\[1\]"):
        NLopt(algorithm="GN_DIRECT").minimize(objective, np.zeros(2), SEED)
    assert calls == []


def test_unknown_nlopt_algorithm_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match="unknown NLopt algorithm 'LN_FOO'; known: .*LN_BOBYQA"):
        NLopt(algorithm="LN_FOO")


def test_nlopt_seed_makes_stochastic_algorithms_reproducible():
    objective = hartmann6()
    first, second = (NLopt(algorithm="GN_CRS2_LM", maxeval=300, seed=5).minimize(objective, np.full(6, .5), SEED)
                     for _ in range(2))
    other = NLopt(algorithm="GN_CRS2_LM", maxeval=300, seed=6).minimize(objective, np.full(6, .5), SEED)
    np.testing.assert_array_equal(first.path, second.path)
    assert not np.array_equal(first.path, other.path)


def test_nlopt_seed_defaults_so_a_run_without_one_is_reproducible():
    crs = NLopt(algorithm="GN_CRS2_LM", maxeval=200)
    np.testing.assert_array_equal(crs.minimize(hartmann6(), np.full(6, .5)).path,
                                  crs.minimize(hartmann6(), np.full(6, .5)).path)


def raises_beyond_half(x):
    if x[0] > 0.5:
        raise ZeroDivisionError("beyond half")
    return float(np.sum((x - 0.75) ** 2))


@pytest.mark.parametrize("minimizer", [LBFGS(), NLopt(algorithm="LN_BOBYQA"), TrustRegion()],
                         ids=lambda m: m.kind)
def test_a_run_whose_objective_raises_is_a_failed_result(minimizer):
    objective = Objective(raises_beyond_half, 2, grad=lambda x: 2 * (x - 0.75), hess=lambda x: 2 * np.eye(2),
                          bounds=[(0, 1)] * 2, name="touchy")
    result = minimizer.minimize(objective, [0.3, 0.3])
    assert (result.status, result.success) == (STATUS_RAISED, False)
    assert result.message == "objective 'touchy' raised ZeroDivisionError: beyond half"
    assert np.isnan(result.value) and not result.admissible
    assert result.nfev >= 1 and result.path.shape[0] >= 1


def test_nlopt_failures_are_results_with_their_nlopt_codes():
    # NLopt's AGS works in at most 10 dimensions: the binding raises invalid_argument.
    objective = Objective(lambda x: float(np.sum(x)), 11, bounds=[(0, 1)] * 11)
    result = NLopt(algorithm="GN_AGS").minimize(objective, np.full(11, 0.5))
    assert (result.status, result.message, result.success) == (-2, "invalid arguments", False)


def test_nlopt_lists_only_algorithms_it_can_run_and_checks_local_algorithms():
    assert "LD_LBFGS_NOCEDAL" not in NLOPT_ALGORITHMS
    with pytest.raises(ValueError, match="unknown NLopt algorithm 'LD_LBFGS_NOCEDAL'"):
        NLopt(algorithm="LD_LBFGS_NOCEDAL")
    with pytest.raises(ValueError, match="NLopt G_MLSL needs a local_algorithm"):
        NLopt(algorithm="G_MLSL")
    with pytest.raises(ValueError, match="NLopt LN_BOBYQA takes no local_algorithm"):
        NLopt(algorithm="LN_BOBYQA", local_algorithm="LN_SBPLX")
    with pytest.raises(ValueError, match="GN_DIRECT is not a plain local algorithm"):
        NLopt(algorithm="G_MLSL", local_algorithm="GN_DIRECT")
    mlsl = NLopt(algorithm="G_MLSL_LDS", local_algorithm="LD_LBFGS", maxeval=400)
    assert mlsl.minimize(hartmann6(), np.full(6, 0.5)).value == pytest.approx(HARTMANN6_MINIMUM[0], abs=1e-5)


def test_derivative_free_nlopt_makes_only_its_own_evaluations():
    calls = []

    def counted(x):
        calls.append(1)
        return hartmann6_value(x)

    result = NLopt(algorithm="LN_BOBYQA", maxeval=60).minimize(Objective(counted, 6, bounds=[(0, 1)] * 6), np.full(6, .5))
    # No gradient is estimated afterwards: nfev is what maxeval allowed, and no norm is made up.
    assert result.nfev == len(calls) == result.path.shape[0] == 60
    assert np.isnan(result.grad_norm)
    analytic = NLopt(algorithm="LN_BOBYQA", xtol_rel=1e-10).minimize(hartmann6(), np.full(6, .5))
    assert analytic.grad_norm < 1e-5


def _status_lines(text):
    return [line for line in text.splitlines() if " iteration " in f" {line}" or " evaluation " in f" {line}"]


def test_status_line_every_output_interval_iterations(capsys):
    objective = rosenbrock(2)
    result = LBFGS(max_iter=12).minimize(objective, objective.x0, output_interval=5)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    for line, iteration in zip(lines, (5, 10)):
        head, point = line.split(", x = ")
        assert head == f"iteration {iteration}: f = {result.path[iteration, -1]:.10g}"
        np.testing.assert_allclose(eval(point), result.path[iteration, :2], rtol=1e-5)
    # NLopt has no iterations: the line comes every that many evaluations, f as given for a maximum search.
    maximum = NLopt(algorithm="LN_BOBYQA").minimize(volcano(), [1.0, 1.0], sense="max", output_interval=20)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == maximum.nfev // 20
    assert lines[0].startswith(f"evaluation 20: f = {maximum.path[19, -1]:.10g}, x = ")
    assert maximum.value == pytest.approx(1.505, abs=1e-3)

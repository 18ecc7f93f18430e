"""The [fitting] TOML section: atomicrex's nested minimizers and one-line errors."""

import textwrap

import pytest

import powdex.optim.config as config_module
from powdex.optim import LBFGS, ConfigError, NLopt, Spa, load_config, run_ensemble
from powdex.optim.restarts import SingleRun
from powdex.optim.testfunctions import rosenbrock

# The documented example: atomicrex's spa wrapping a gradient minimizer.
SPA = textwrap.dedent(config_module.__doc__.split("\n\n``kind``")[0].split("\n\n", 1)[1])


def _load(tmp_path, text):
    path = tmp_path / "fit.toml"
    path.write_text(text)
    return load_config(path)


def test_spa_wrapping_lbfgs_as_in_atomicrex(tmp_path):
    config = _load(tmp_path, SPA)
    assert config.output_interval == 100
    assert config.strategy() == Spa(max_iter=25, seed=120815, minimizer=LBFGS(conv_threshold=1e-10, max_iter=50))


def test_a_bare_minimizer_is_one_run_from_the_objective_start(tmp_path):
    config = _load(tmp_path, '[fitting]\n[fitting.minimizer]\nkind = "nlopt"\nalgorithm = "LN_SBPLX"\nmaxeval = 5000\n')
    assert config.strategy() == SingleRun(minimizer=NLopt(algorithm="LN_SBPLX", maxeval=5000))
    ensemble = run_ensemble(rosenbrock(2), config.strategy())
    assert len(ensemble.results) == 1 and ensemble.best.value < 1e-6


@pytest.mark.parametrize("change, message", [
    (('kind = "lbfgs"', 'kind = "nlopt"\nalgorithm = "LN_FOO"'),
     "fitting.minimizer.minimizer.algorithm: unknown NLopt algorithm 'LN_FOO'; known: AUGLAG, "),
    (("max_iter = 25", "max_iter = -3"), "fitting.minimizer.max_iter: Input should be greater than 0"),
    (("conv_threshold = 1e-10", 'conv_threshold = "tight"'), "fitting.minimizer.minimizer.conv_threshold: Input should be a valid number"),
    (("conv_threshold = 1e-10", "conv_threshold = 1e-10\nconv-threshold = 1e-9"),
     "fitting.minimizer.minimizer.conv_threshold: given twice (as conv-threshold and conv_threshold)"),
    (("max_iter = 50", "max_iter = 50\nmaxiter = 3"), "fitting.minimizer.minimizer.maxiter: unknown option"),
    (('kind = "spa"', 'kind = "annealing"'), "fitting.minimizer: unknown kind 'annealing'; known: lbfgs, dogleg"),
    (("fitting", "fit"), "fitting: section missing"),
])
def test_bad_settings_give_one_line_errors_naming_the_setting(tmp_path, change, message):
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, SPA.replace(*change))
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_atomicrex_hyphenated_names_are_the_same_options(tmp_path):
    hyphenated = SPA
    for name in ("output_interval", "max_iter", "conv_threshold"):
        hyphenated = hyphenated.replace(name, name.replace("_", "-"))
    hyphenated += "\ngradient-epsilon = 1e-7\n"
    config = _load(tmp_path, hyphenated)
    assert config.output_interval == 100
    assert config.strategy() == Spa(
        max_iter=25, seed=120815, minimizer=LBFGS(conv_threshold=1e-10, max_iter=50, gradient_epsilon=1e-7))


def test_missing_bounds_are_refused_before_any_run(tmp_path):
    config = _load(tmp_path, SPA)
    with pytest.raises(ConfigError, match="needs finite bounds on every parameter"):
        run_ensemble(rosenbrock(2), config.strategy())


def test_nan_bounds_are_refused_naming_the_parameters():
    from powdex.optim import Objective

    with pytest.raises(ConfigError, match=r"^bounds: NaN for parameters \[1\]; give a number, or -inf/inf"):
        Objective(sum, 2, bounds=[(0.0, 1.0), (float("nan"), 1.0)])

import numpy as np
import pytest

from course_lib.gradcheck import (eval_numerical_gradient, eval_numerical_gradient_array,
                                  grad_check_sparse, rel_error)


def test_numerical_gradient_of_known_functions(rng):
    x = rng.standard_normal((3, 4))
    np.testing.assert_allclose(eval_numerical_gradient(lambda v: np.sum(v ** 2), x), 2 * x, rtol=1e-8)
    np.testing.assert_allclose(eval_numerical_gradient(lambda v: np.sum(np.sin(v)), x), np.cos(x),
                               rtol=1e-7, atol=1e-10)


def test_input_is_restored(rng):
    x = rng.standard_normal(5)
    before = x.copy()
    eval_numerical_gradient(lambda v: np.sum(v ** 3), x)
    np.testing.assert_array_equal(x, before)


def test_array_form_is_the_backward_pass(rng):
    x, df = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    np.testing.assert_allclose(eval_numerical_gradient_array(np.tanh, x, df),
                               df * (1 - np.tanh(x) ** 2), rtol=1e-7)


def test_rel_error():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(np.array([1.0]), np.array([1.1])) == pytest.approx(0.1 / 2.1)
    assert rel_error(np.array([0.0]), np.array([1e-12])) == pytest.approx(1e-4)  # floor of 1e-8
    with pytest.raises(ValueError, match="shapes differ"):
        rel_error(np.ones(2), np.ones(3))


def test_sparse_check_finds_a_wrong_gradient(rng, capsys):
    x = rng.standard_normal(50)
    good = grad_check_sparse(lambda v: np.sum(v ** 2), x, 2 * x, num_checks=5, seed=0)
    bad = grad_check_sparse(lambda v: np.sum(v ** 2), x, 3 * x, num_checks=5, seed=0)
    assert max(good) < 1e-8 and min(bad) > 0.1
    assert "relative error" in capsys.readouterr().out


def test_array_form_of_a_function_returning_its_input_or_a_view(rng):
    """Test-mode dropout returns x itself: the gradient of sum(x * df) is df, not 0."""
    x, df = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(eval_numerical_gradient_array(lambda v: v, x, df), df, rtol=1e-8)
    np.testing.assert_allclose(eval_numerical_gradient_array(lambda v: v[:, :2], x, df[:, :2]),
                               np.hstack([df[:, :2], np.zeros((3, 2))]), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(eval_numerical_gradient(lambda v: v[0, 0], x.copy()).ravel()[0], 1.0)


def test_relative_difference_is_on_the_scale_of_the_expected_values():
    from course_lib.gradcheck import relative_difference
    assert relative_difference([1.0, 2.0], [1.0, 2.0]) == (0.0, (0,))
    err, worst = relative_difference(np.array([[1.0, 2.5], [3.0, 4.0]]), np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert err == pytest.approx(0.5 / 4) and worst == (0, 1)
    with pytest.raises(ValueError, match=r"shapes differ: \(2,\) and \(3,\)"):
        relative_difference(np.ones(2), np.ones(3))

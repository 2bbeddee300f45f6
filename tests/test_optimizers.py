import math
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npseq2seq import SGD, Adam, AdamW, EncoderDecoder, RMSprop, load, reversal_task
from npseq2seq.optimizers import get_optimizer


def test_adam_matches_a_hand_worked_example():
    # p = 1, lr = 0.1, g = 0.5 then g = -0.2.  Step 1 (t = 1):
    #   m = 0.1*0.5 = 0.05, v = 0.001*0.25 = 2.5e-4
    #   alpha = 0.1*sqrt(1-0.999)/(1-0.9) = sqrt(0.001) = 0.0316227766
    #   p = 1 - alpha*0.05/(sqrt(2.5e-4) + 1e-7) = 1 - 0.0316227766*0.05/0.0158114388
    p = np.array([1.0])
    adam = Adam(learning_rate=0.1)
    adam.update([(p, np.array([0.5]))])
    step1 = math.sqrt(0.001) * 0.05 / (math.sqrt(2.5e-4) + 1e-7)
    assert p[0] == pytest.approx(1 - step1, rel=1e-15)
    assert step1 == pytest.approx(0.0999993675, rel=1e-9)
    # Step 2 (t = 2): m = 0.9*0.05 + 0.1*(-0.2) = 0.025
    #   v = 0.999*2.5e-4 + 0.001*0.04 = 2.8975e-4
    #   alpha = 0.1*sqrt(1-0.999**2)/(1-0.9**2)
    adam.update([(p, np.array([-0.2]))])
    alpha2 = 0.1 * math.sqrt(1 - 0.999**2) / (1 - 0.81)
    step2 = alpha2 * 0.025 / (math.sqrt(2.8975e-4) + 1e-7)
    assert p[0] == pytest.approx(1 - step1 - step2, rel=1e-14)
    np.testing.assert_allclose(adam.slots["m"][0], [0.025], rtol=1e-14)
    np.testing.assert_allclose(adam.slots["v"][0], [2.8975e-4], rtol=1e-14)


def test_adam_keras_defaults():
    adam = Adam()
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon) == (0.001, 0.9, 0.999, 1e-7)


def test_adam_keeps_float32_parameters_float32():
    p = np.ones(3, np.float32)
    Adam().update([(p, np.ones(3, np.float32))])
    assert p.dtype == np.float32 and np.all(p < 1)


def least_squares_problem():
    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((20, 5)), rng.standard_normal(20)
    x = np.zeros(5)

    def loss_and_grad():
        r = A @ x - b
        return float(r @ r) / 20, 2 * A.T @ r / 20

    return x, loss_and_grad


@pytest.mark.parametrize("optimizer", [
    Adam(learning_rate=0.05), SGD(learning_rate=0.05), SGD(learning_rate=0.02, momentum=0.9),
    SGD(learning_rate=0.02, momentum=0.9, nesterov=True), RMSprop(learning_rate=0.01),
    RMSprop(learning_rate=0.01, momentum=0.5, centered=True), Adam(learning_rate=0.05, clipnorm=0.1),
], ids=lambda o: type(o).__name__)
def test_loss_goes_down(optimizer):
    x, loss_and_grad = least_squares_problem()
    first, _ = loss_and_grad()
    for _ in range(200):
        _, grad = loss_and_grad()
        optimizer.update([(x, grad)])
    assert loss_and_grad()[0] < 0.6 * first


def test_sgd_momentum_rule():
    p, sgd = np.array([1.0]), SGD(learning_rate=0.1, momentum=0.9)
    sgd.update([(p, np.array([1.0]))])   # v = -0.1, p = 0.9
    sgd.update([(p, np.array([1.0]))])   # v = -0.09 - 0.1 = -0.19, p = 0.71
    assert p[0] == pytest.approx(0.71, rel=1e-14)


def test_global_clipnorm_scales_all_gradients_by_their_joint_norm():
    p1, p2 = np.zeros(2), np.zeros(2)
    g1, g2 = np.array([3.0, 4.0]), np.array([0.0, 0.1])
    SGD(learning_rate=1.0, global_clipnorm=1.0).update([(p1, g1), (p2, g2)])
    scale = 1 / np.sqrt(25.01)
    np.testing.assert_allclose(np.concatenate([p1, p2]), -scale * np.array([3, 4, 0, 0.1]))
    p = np.zeros(2)
    SGD(learning_rate=1.0, global_clipnorm=10.0).update([(p, g1)])  # norm 5 < 10: untouched
    np.testing.assert_array_equal(p, [-3.0, -4.0])


def test_clipnorm_scales_each_variable_by_its_own_norm_as_keras():
    p1, p2 = np.zeros(2), np.zeros(2)
    g1, g2 = np.array([3.0, 4.0]), np.array([0.0, 0.1])
    SGD(learning_rate=1.0, clipnorm=1.0).update([(p1, g1), (p2, g2)])
    np.testing.assert_allclose(p1, [-0.6, -0.8], rtol=1e-15)    # norm 5: scaled to 1
    np.testing.assert_array_equal(p2, [0.0, -0.1])              # norm 0.1: untouched
    np.testing.assert_array_equal(g1, [3.0, 4.0])               # the caller's gradient kept


def test_clipnorm_clips_the_named_parts_of_one_flat_pair_apart():
    flat, grad = np.zeros(5), np.array([3.0, 4.0, 0.0, 0.1, 12.0])
    SGD(learning_rate=1.0, clipnorm=1.0).update(
        [(flat, grad)], variables=[[slice(0, 2), slice(2, 4), slice(4, 5)]])
    np.testing.assert_allclose(flat, [-0.6, -0.8, 0.0, -0.1, -1.0], rtol=1e-15)


def test_clipvalue_clips_each_element():
    p, g = np.zeros(4), np.array([-3.0, -0.5, 0.25, 7.0])
    SGD(learning_rate=1.0, clipvalue=0.5).update([(p, g)])
    np.testing.assert_array_equal(p, [0.5, 0.5, -0.25, -0.5])
    np.testing.assert_array_equal(g, [-3.0, -0.5, 0.25, 7.0])


@pytest.mark.parametrize("clipping", ["clipnorm", "clipvalue", "global_clipnorm"])
def test_clipping_keeps_float32_gradients_float32(clipping):
    p, g = np.zeros(3, np.float32), np.array([300.0, -400.0, 0.5], np.float32)
    optimizer = SGD(learning_rate=1.0, **{clipping: 1.0})
    assert optimizer._clip([g], [[...]])[0].dtype == np.float32
    optimizer.update([(p, g)])
    assert p.dtype == np.float32 and np.all(np.abs(p) <= 1.0)


def test_only_one_kind_of_clipping_may_be_set():
    with pytest.raises(ValueError, match=r"at most one of clipnorm, clipvalue and "
                                         r"global_clipnorm, got clipnorm=1\.0, clipvalue=None, "
                                         r"global_clipnorm=2\.0"):
        Adam(clipnorm=1.0, global_clipnorm=2.0)
    with pytest.raises(ValueError, match=r"clipvalue must be a positive number, got -1"):
        SGD(clipvalue=-1)


def test_a_config_from_before_global_clipnorm_keeps_its_joint_clipping():
    # saved files wrote only 'clipnorm', which then clipped the joint norm
    old = get_optimizer({"name": "adam", "learning_rate": 0.001, "clipnorm": 1.0})
    assert (old.clipnorm, old.global_clipnorm) == (None, 1.0)
    for kind in ("clipnorm", "clipvalue", "global_clipnorm"):
        again = get_optimizer(Adam(**{kind: 0.5}).get_config())
        assert [again.clipnorm, again.clipvalue, again.global_clipnorm] == [
            0.5 if name == kind else None for name in ("clipnorm", "clipvalue", "global_clipnorm")]


def test_adamw_is_adam_with_keras_default_weight_decay_and_round_trips_its_config():
    adamw = AdamW()
    assert (adamw.weight_decay, adamw.learning_rate, adamw.amsgrad) == (0.004, 0.001, False)
    again = get_optimizer(AdamW(0.01, weight_decay=0.1, amsgrad=True).get_config())
    assert type(again) is AdamW
    assert (again.learning_rate, again.weight_decay, again.amsgrad) == (0.01, 0.1, True)


def test_weight_decay_shrinks_a_weight_without_gradient_by_lr_times_decay():
    p = np.array([2.0, -4.0])
    SGD(learning_rate=0.5, weight_decay=0.1).update([(p, np.zeros(2))])
    np.testing.assert_allclose(p, [2.0 * 0.95, -4.0 * 0.95], rtol=1e-15)


def test_an_amsgrad_model_resumes_from_its_file_exactly(tmp_path):
    source, target = reversal_task(64, n_in=4, n_out=2, cardinality=7, seed=0)
    straight = EncoderDecoder(7, 8, seed=0)
    straight.fit(source, target, epochs=2, batch_size=16, verbose=0,
                 optimizer=Adam(0.01, amsgrad=True))
    first = EncoderDecoder(7, 8, seed=0)
    first.fit(source, target, epochs=1, batch_size=16, verbose=0,
              optimizer=Adam(0.01, amsgrad=True))
    first.save(tmp_path / "m.npz")
    resumed = load(tmp_path / "m.npz")
    assert sorted(resumed.optimizer.slots) == ["m", "v", "v_hat"]
    resumed.fit(source, target, epochs=2, initial_epoch=1, batch_size=16, verbose=0)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


KERAS_TRAINING = os.path.join(os.path.dirname(__file__), "fixtures", "keras_training.npz")
KERAS_OPTIMIZERS = {      # as tests/fixtures/make_keras_training_fixture.py built Keras's
    "adam": lambda: Adam(),
    "sgd_nesterov": lambda: SGD(0.5, momentum=0.9, nesterov=True),
    "rmsprop_centered": lambda: RMSprop(0.01, momentum=0.5, centered=True),
    "adam_clipnorm": lambda: Adam(0.01, clipnorm=0.05),
    "sgd_clipnorm": lambda: SGD(0.5, clipnorm=0.05),
    "sgd_global_clipnorm": lambda: SGD(0.5, global_clipnorm=0.1),
    "sgd_clipvalue": lambda: SGD(0.5, clipvalue=0.002),
    "adam_amsgrad": lambda: Adam(0.01, amsgrad=True),
    "adamw": lambda: AdamW(0.01, weight_decay=0.5),
    "sgd_weight_decay": lambda: SGD(0.5, momentum=0.5, weight_decay=0.2),
}


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("case", sorted(KERAS_OPTIMIZERS))
def test_ten_batches_of_fit_move_the_weights_as_keras_fit_does(case, workers):
    data = np.load(KERAS_TRAINING)
    initial = [data[f"initial_{i}"] for i in range(8)]
    model = EncoderDecoder.from_keras_weights(initial)
    history = model.fit(data["source"], data["target"], batch_size=32, shuffle=False,
                        verbose=0, optimizer=KERAS_OPTIMIZERS[case](), workers=workers)
    for i, (ours, before) in enumerate(zip(model.get_weights(), initial)):
        keras = data[f"{case}_{i}"]
        step = np.abs(keras - before).max()
        # float32 in both, summed in other orders: agreement to 1e-4 of the step
        assert np.abs(ours - keras).max() <= 1e-4 * step, (case, i)
    assert history.history["loss"][0] == pytest.approx(float(data[f"{case}_loss"]), rel=1e-6)


def test_state_round_trip_resumes_exactly():
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(4) for _ in range(6)]
    p_straight, straight = np.ones(4), Adam()
    for g in grads:
        straight.update([(p_straight, g)])
    p_resumed, first = np.ones(4), Adam()
    for g in grads[:3]:
        first.update([(p_resumed, g)])
    second = Adam()
    second.set_state(first.get_state())
    for g in grads[3:]:
        second.update([(p_resumed, g)])
    assert np.array_equal(p_straight, p_resumed)


@pytest.mark.parametrize("shape, dtype", [((2, 3), np.float64), ((3,), np.float64),
                                          ((5,), np.float32)])
def test_a_state_without_slots_serves_parameters_of_another_shape_or_dtype(shape, dtype):
    # the first update leaves float32 (3,) work arrays behind; the state set
    # afterwards has no slots, so any parameters may follow
    used = Adam()
    used.update([(np.ones(3, np.float32), np.ones(3, np.float32))])
    used.set_state({"iterations": 0, "slots": None})
    fresh = Adam()
    grad = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    p_used, p_fresh = np.full(shape, 0.1, dtype), np.full(shape, 0.1, dtype)
    for _ in range(3):
        used.update([(p_used, grad)])
        fresh.update([(p_fresh, grad)])
    assert np.array_equal(p_used, p_fresh)


def test_get_optimizer_by_name_and_config():
    assert isinstance(get_optimizer("adam"), Adam)
    rms = get_optimizer(RMSprop(learning_rate=0.01).get_config())
    assert isinstance(rms, RMSprop) and rms.learning_rate == 0.01
    with pytest.raises(ValueError, match="adagrad"):
        get_optimizer("adagrad")
    with pytest.raises(ValueError, match="learning_rate must be a positive number, got -1"):
        Adam(learning_rate=-1)


@pytest.mark.parametrize("make, message", [
    (lambda: Adam(beta_1=1.0), r"beta_1 must lie in \[0, 1\), got 1\.0"),
    (lambda: Adam(beta_2=-0.5), r"beta_2 must lie in \[0, 1\), got -0\.5"),
    (lambda: Adam(epsilon=0), r"epsilon must be a positive number, got 0"),
    (lambda: RMSprop(rho=1), r"rho must lie in \[0, 1\), got 1"),
    (lambda: RMSprop(epsilon=float("nan")), r"epsilon must be a positive number, got nan"),
    (lambda: SGD(momentum="0.9"), r"momentum must lie in \[0, 1\), got '0\.9'"),
    (lambda: AdamW(weight_decay=-0.1), r"weight_decay must be a positive number, got -0\.1"),
])
def test_bad_hyperparameters_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_epsilon_zero_would_turn_a_weight_without_gradient_into_nan():
    # why epsilon must be positive: m = v = 0 makes 0 / (sqrt(0) + 0)
    param, grad = np.ones(2), np.array([0.5, 0.0])
    optimizer = Adam()
    optimizer.epsilon = 0.0                          # past the check, as a test may
    with np.errstate(invalid="ignore"):
        optimizer.update([(param, grad)])
    assert np.isfinite(param[0]) and np.isnan(param[1])


def test_update_names_a_gradient_or_parameter_that_does_not_fit():
    with pytest.raises(ValueError, match=r"gradient 1 must have its parameter's shape \(3,\), got \(4,\)"):
        Adam().update([(np.zeros(2), np.zeros(2)), (np.zeros(3), np.zeros(4))])
    with pytest.raises(TypeError, match=r"parameter 0 must be a float NumPy array .*got int64"):
        Adam().update([(np.zeros(3, np.int64), np.zeros(3))])
    with pytest.raises(TypeError, match=r"parameter 0 must be a float NumPy array .*got list"):
        Adam().update([([0.0, 0.0], np.zeros(2))])


def test_an_optimizer_refuses_parameters_other_than_those_it_has_state_for():
    optimizer = Adam()
    optimizer.update([(np.zeros(3), np.ones(3))])
    with pytest.raises(ValueError, match=r"made for parameters of shapes \[\(3,\)\], got \[\(4,\)\]"):
        optimizer.update([(np.zeros(4), np.ones(4))])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 999), limit=st.floats(0.01, 10), sizes=st.lists(st.integers(1, 5),
                                                                          min_size=1, max_size=4))
def test_each_clipping_caps_what_it_says_and_keeps_the_direction(seed, limit, sizes):
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal(n) * rng.choice([0.01, 1, 100]) for n in sizes]
    parts = [[slice(0, n)] for n in sizes]
    per_weight = SGD(clipnorm=limit)._clip(grads, parts)
    joint = SGD(global_clipnorm=limit)._clip(grads, parts)
    by_value = SGD(clipvalue=limit)._clip(grads, parts)
    total = np.sqrt(sum(g @ g for g in grads))
    for g, each, together, clipped in zip(grads, per_weight, joint, by_value):
        norm = np.sqrt(g @ g)
        np.testing.assert_allclose(each, g * min(1, limit / norm), rtol=1e-12)
        np.testing.assert_allclose(together, g * min(1, limit / total), rtol=1e-12)
        assert np.all(np.abs(clipped) <= limit) and np.all(clipped[np.abs(g) <= limit] ==
                                                             g[np.abs(g) <= limit])

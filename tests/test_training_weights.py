"""Keras's sample_weight / class_weight in Model.fit and evaluate: one SGD step and the reported
losses against torch doing sum_i w_i loss_i / N by hand, the class -> sample weight rule, weighted
validation data and loader triples, and the errors."""
import numpy as np
import pytest
import torch

import tensorforge as tf
from tensorforge import nn
from tensorforge.data import DataLoader, TensorDataset


def _pair(rng, d_in, d_out):
    """A tensorforge Linear and a torch Linear with the same float64 weights."""
    ours = nn.Linear(d_in, d_out).double()
    ref = torch.nn.Linear(d_in, d_out).double()
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(ours.weight.detach().numpy()))
        ref.bias.copy_(torch.from_numpy(ours.bias.detach().numpy()))
    return ours, ref


def _torch_step(ref, x, y, w, per_sample_loss, lr):
    loss = (per_sample_loss(ref(torch.from_numpy(x)), torch.from_numpy(y)) * torch.from_numpy(w)).sum() / len(w)
    loss.backward()
    with torch.no_grad():
        for p in ref.parameters():
            p -= lr * p.grad
    return loss.item()


def _ce(out, y):
    return torch.nn.functional.cross_entropy(out, y, reduction="none")


def _mse(out, y):
    return torch.nn.functional.mse_loss(out, y, reduction="none").mean(1)


@pytest.mark.parametrize("loss", ["cross_entropy", "module"])
def test_sample_weight_step_matches_torch(rng, loss):
    x = rng.normal(size=(13, 5))
    y = rng.integers(0, 4, size=13)
    w = rng.uniform(0, 3, size=13)
    ours, ref = _pair(rng, 5, 4)
    model = tf.Model(ours).compile(tf.optim.SGD(ours.parameters(), lr=0.5),
                                   nn.CrossEntropyLoss() if loss == "module" else loss)
    hist = model.fit(x, y, sample_weight=w, batch_size=13, shuffle=False, verbose=0)
    expected = _torch_step(ref, x, y, w, _ce, 0.5)
    assert hist.history["loss"][0] == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(ours.weight.detach().numpy(), ref.weight.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours.bias.detach().numpy(), ref.bias.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_regression_weights_average_each_samples_outputs_first(rng):
    x, y = rng.normal(size=(9, 3)), rng.normal(size=(9, 2))
    w = rng.uniform(0, 2, size=9)
    ours, ref = _pair(rng, 3, 2)
    model = tf.Model(ours).compile(tf.optim.SGD(ours.parameters(), lr=0.1), "mse")
    model.fit(x, y, sample_weight=w, batch_size=9, shuffle=False, verbose=0)
    _torch_step(ref, x, y, w, _mse, 0.1)
    np.testing.assert_allclose(ours.weight.detach().numpy(), ref.weight.detach().numpy(), rtol=1e-12, atol=1e-14)
    x2 = rng.normal(size=(6, 3))
    y2 = rng.normal(size=(6, 2))
    w2 = rng.uniform(0, 2, size=6)
    with torch.no_grad():
        expected = (_mse(ref(torch.from_numpy(x2)), torch.from_numpy(y2)) * torch.from_numpy(w2)).sum().item() / 6
    assert model.evaluate(x2, y2, sample_weight=w2, batch_size=6, verbose=0) == pytest.approx(expected, rel=1e-12)
    # batches of 4 and 2: the reported loss is the weighted sum over all samples / N
    assert model.evaluate(x2, y2, sample_weight=w2, batch_size=4, verbose=0) == pytest.approx(expected, rel=1e-12)


def test_class_weight_is_a_per_class_sample_weight(rng):
    x = rng.normal(size=(20, 4))
    y = rng.integers(0, 3, size=20)
    table = {0: 0.5, 1: 2.0, 2: 1.25}
    sw = rng.uniform(0.5, 1.5, size=20)
    results = []
    for kwargs in ({"class_weight": table, "sample_weight": sw},
                   {"sample_weight": sw * np.array([table[c] for c in y])}):
        tf.manual_seed(0)
        net = nn.Linear(4, 3).double()
        model = tf.Model(net).compile(tf.optim.SGD(net.parameters(), lr=0.3), "cross_entropy")
        model.fit(x, y, batch_size=7, epochs=2, seed=1, verbose=0, **kwargs)
        results.append(net.weight.detach().numpy().copy())
    np.testing.assert_array_equal(results[0], results[1])
    onehot = np.eye(3)[y]
    from tensorforge.training.weights import sample_weights
    np.testing.assert_array_equal(sample_weights(onehot, None, table, "fit"), [table[c] for c in y])
    np.testing.assert_array_equal(sample_weights(y.reshape(-1, 1), None, table, "fit"), [table[c] for c in y])


def test_weighted_validation_data_and_loader_triples(rng):
    x, y = rng.normal(size=(16, 3)), rng.integers(0, 2, size=16)
    w = rng.uniform(0, 2, size=16)
    net = nn.Linear(3, 2).double()
    model = tf.Model(net).compile(tf.optim.SGD(net.parameters(), lr=0.0), "cross_entropy")
    hist = model.fit(x, y, epochs=1, batch_size=16, validation_data=(x, y, w), verbose=0)
    weighted = model.evaluate(x, y, sample_weight=w, batch_size=5, verbose=0)
    assert hist.history["val_loss"][0] == pytest.approx(weighted, rel=1e-12)
    assert weighted != pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)
    loader = DataLoader(TensorDataset(tf.tensor(x), tf.tensor(y), tf.tensor(w)), batch_size=5)
    assert model.evaluate(loader, verbose=0) == pytest.approx(weighted, rel=1e-12)
    hist = model.fit(loader, epochs=1, verbose=0)
    assert hist.history["loss"][0] == pytest.approx(weighted, rel=1e-12)  # lr 0: the weights did not move


def test_weight_errors_are_clear(rng):
    x, y = rng.normal(size=(8, 3)), rng.integers(0, 2, size=8)
    net = nn.Linear(3, 2).double()
    model = tf.Model(net).compile(tf.optim.SGD(net.parameters(), lr=0.1), "cross_entropy")
    with pytest.raises(ValueError, match=r"sample_weight must have one weight per sample, shape \(8,\)"):
        model.fit(x, y, sample_weight=np.ones(7), verbose=0)
    with pytest.raises(ValueError, match="sample_weight must be finite and non-negative"):
        model.fit(x, y, sample_weight=-np.ones(8), verbose=0)
    with pytest.raises(ValueError, match=r"class_weight has no weight for class\(es\) \[1\]"):
        model.fit(x, np.r_[y[:7] * 0, 1], class_weight={0: 1.0}, verbose=0)
    with pytest.raises(TypeError, match="class_weight must be a dict"):
        model.fit(x, y, class_weight=[1.0, 2.0], verbose=0)
    with pytest.raises(ValueError, match="sample_weight and class_weight need x and y as arrays"):
        model.fit(DataLoader(TensorDataset(tf.tensor(x), tf.tensor(y))), sample_weight=np.ones(8), verbose=0)
    custom = tf.Model(net).compile(tf.optim.SGD(net.parameters(), lr=0.1),
                                   lambda out, target: ((out[:, 0] - target) ** 2).mean())
    with pytest.raises(TypeError, match="need a loss that accepts reduction='none'"):
        custom.fit(x, y.astype(np.float64), sample_weight=np.ones(8), verbose=0)
    reg = tf.Model(nn.Linear(3, 1).double()).compile("sgd", "mse")
    with pytest.raises(ValueError, match="class_weight needs one class label per sample"):
        reg.fit(x, rng.normal(size=(8, 1)) + 0.5, class_weight={0: 1.0}, verbose=0)

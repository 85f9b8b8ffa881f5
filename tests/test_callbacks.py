"""Callbacks of the Keras-style loop: hook order, EarlyStopping, ModelCheckpoint, learning-rate
schedules, CSVLogger, TerminateOnNaN."""
import csv
import math

import numpy as np
import pytest

import tensorforge as tf
from tensorforge import nn
from tensorforge.training import (Callback, CSVLogger, EarlyStopping, LambdaCallback, LearningRateScheduler,
                                  ModelCheckpoint, ReduceLROnPlateau, TerminateOnNaN)
from tensorforge.training import model as model_mod


class PlainSGD:
    def __init__(self, params, lr=0.1):
        self.param_groups = [{"params": list(params), "lr": lr}]
        self.loaded = None

    def zero_grad(self):
        for p in self.param_groups[0]["params"]:
            p.grad = None

    def step(self):
        lr = self.param_groups[0]["lr"]
        for p in self.param_groups[0]["params"]:
            if p.grad is not None:
                p._data -= lr * p.grad._data
                p._bump_version()

    def state_dict(self):
        return {"lr": self.param_groups[0]["lr"]}

    def load_state_dict(self, state):
        self.loaded = state


def small_model(lr=0.05, d_in=4, d_out=2, loss="mse", metrics=None):
    model = tf.Model(nn.Sequential(nn.Linear(d_in, 8), nn.Tanh(), nn.Linear(8, d_out)))
    return model.compile(PlainSGD(model.parameters(), lr), loss, metrics)


def data(rng, n=40, d_in=4, d_out=2):
    x = rng.normal(size=(n, d_in)).astype(np.float32)
    return x, (x[:, :d_out] * 0.5).astype(np.float32)


def weights(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


class Scripted(Callback):
    """Overwrites logs[key] with a scripted sequence (it must come before the callbacks that read
    it) and snapshots the weights at every epoch end."""

    def __init__(self, key, values):
        super().__init__()
        self.key, self.values = key, list(values)
        self.snapshots = []

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]
        self.snapshots.append(weights(self.model))


# ---- the hooks ---------------------------------------------------------------------------------------
def test_hook_order_and_params(rng):
    events = []

    class Rec(Callback):
        def on_train_begin(self, logs=None):
            events.append(("train_begin", self.params["epochs"], self.params["steps"]))

        def on_epoch_begin(self, epoch, logs=None):
            events.append(("epoch_begin", epoch))

        def on_train_batch_begin(self, batch, logs=None):
            events.append(("batch_begin", batch))

        def on_train_batch_end(self, batch, logs=None):
            events.append(("batch_end", batch))

        def on_test_begin(self, logs=None):
            events.append(("test_begin",))

        def on_epoch_end(self, epoch, logs=None):
            events.append(("epoch_end", epoch, sorted(logs)))

        def on_train_end(self, logs=None):
            events.append(("train_end",))

    x, y = data(rng, n=10)
    small_model().fit(x, y, epochs=3, initial_epoch=1, batch_size=5, callbacks=[Rec()], verbose=0,
                      validation_data=(x, y))
    keys = ["loss", "lr", "val_loss"]
    epoch = [("batch_begin", 0), ("batch_end", 0), ("batch_begin", 1), ("batch_end", 1), ("test_begin",)]
    assert events == ([("train_begin", 3, 2), ("epoch_begin", 1)] + epoch + [("epoch_end", 1, keys),
                      ("epoch_begin", 2)] + epoch + [("epoch_end", 2, keys), ("train_end",)])


def test_a_callback_stops_training(rng):
    x, y = data(rng)

    def stop(epoch, logs):
        if epoch == 1:
            model.stop_training = True

    model = small_model()
    hist = model.fit(x, y, epochs=10, callbacks=[LambdaCallback(on_epoch_end=stop)], verbose=0)
    assert hist.epoch == [0, 1]
    with pytest.raises(TypeError, match="Callback objects"):
        model.fit(x, y, callbacks=[print], verbose=0)


# ---- EarlyStopping -------------------------------------------------------------------------------------
@pytest.mark.parametrize("values, kwargs, stops_after", [
    ([1.0, 0.8, 0.85, 0.9, 0.95, 0.99, 1.0, 1.0], dict(patience=2), 4),           # best at 1, stop at epoch 3
    ([1.0, 0.8, 0.85, 0.7, 0.75, 0.76, 0.77, 0.78], dict(patience=2), 6),         # improvement resets the wait
    ([1.0, 0.99, 0.985, 0.98, 0.97, 0.5, 0.4, 0.3], dict(patience=2, min_delta=0.05), 3),
    ([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3], dict(patience=0), 8),             # never stops while improving
    ([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], dict(patience=0), 2),              # stops at the first flat epoch > 0
    ([0.9, 0.8, 0.7, 0.6, 0.55, 0.5, 0.4, 0.3], dict(patience=3, baseline=0.45), 3),  # never beats the baseline
])
def test_early_stopping_on_scripted_val_loss(rng, values, kwargs, stops_after):
    x, y = data(rng)
    es = EarlyStopping(monitor="val_loss", **kwargs)
    hist = small_model().fit(x, y, epochs=8, verbose=0, validation_split=0.25,
                             callbacks=[Scripted("val_loss", values), es])
    assert len(hist.history["loss"]) == stops_after
    assert hist.history["val_loss"] == values[:stops_after]
    assert es.stopped_epoch == (stops_after - 1 if stops_after < 8 else 0)


def test_early_stopping_max_mode_and_restore_best_weights(rng):
    x, y = data(rng)
    accs = [0.5, 0.7, 0.9, 0.85, 0.88, 0.86, 0.95, 0.99]
    script = Scripted("val_accuracy", accs)
    es = EarlyStopping(monitor="val_accuracy", patience=3, restore_best_weights=True)
    assert es.mode == "max"
    model = small_model()
    hist = model.fit(x, y, epochs=8, verbose=0, validation_split=0.25, callbacks=[script, es])
    assert len(hist.epoch) == 6 and es.best_epoch == 2 and es.best == 0.9
    final, best = weights(model), script.snapshots[2]
    assert final.keys() == best.keys()
    for k in best:
        np.testing.assert_array_equal(final[k], best[k])
    assert any(not np.array_equal(script.snapshots[-1][k], best[k]) for k in best)  # training moved them


def test_early_stopping_warns_on_a_missing_monitor(rng):
    x, y = data(rng)
    with pytest.warns(RuntimeWarning, match="val_loss.*not available"):
        hist = small_model().fit(x, y, epochs=2, verbose=0, callbacks=[EarlyStopping(patience=0)])
    assert len(hist.epoch) == 2


# ---- ModelCheckpoint -------------------------------------------------------------------------------------
@pytest.fixture
def fake_files(monkeypatch):
    """tensorforge.save / load stand-ins (a dict of paths), so the checkpoint logic is tested
    whether or not the serialization module is in this build."""
    files = {}

    def save(obj, path):
        files[str(path)] = {k: (v.numpy().copy() if isinstance(v, tf.Tensor) else v) for k, v in obj.items()} \
            if "model" not in obj else dict(obj, model={k: v.numpy().copy() for k, v in obj["model"].items()})

    def load(path):
        return files[str(path)]

    monkeypatch.setattr(model_mod, "_serialization", lambda: (save, load))
    return files


def test_model_checkpoint_every_epoch_and_best_only(rng, tmp_path, fake_files):
    x, y = data(rng)
    every = ModelCheckpoint(str(tmp_path / "all" / "ep{epoch:02d}-{val_loss:.2f}.safetensors"))
    best = ModelCheckpoint(str(tmp_path / "best.safetensors"), monitor="val_loss", save_best_only=True,
                           save_weights_only=True)
    values = [0.9, 0.5, 0.7, 0.4, 0.6]
    script = Scripted("val_loss", values)
    model = small_model()
    model.fit(x, y, epochs=5, verbose=0, validation_split=0.2, callbacks=[script, every, best])
    assert every.saved == [str(tmp_path / "all" / f"ep{e + 1:02d}-{v:.2f}.safetensors") for e, v in enumerate(values)]
    assert (tmp_path / "all").is_dir()
    ckpt = fake_files[every.saved[2]]
    assert ckpt["epoch"] == 3 and ckpt["optimizer"] == {"lr": 0.05}
    for k, v in script.snapshots[2].items():
        np.testing.assert_array_equal(ckpt["model"][k.removeprefix("network.")], v)
    assert best.saved == [str(tmp_path / "best.safetensors")] * 3 and best.best == 0.4  # epochs 1, 2 and 4
    for k, v in script.snapshots[3].items():
        np.testing.assert_array_equal(fake_files[best.saved[-1]][k.removeprefix("network.")], v)
    fresh = small_model()
    fresh.load_weights(best.saved[-1])
    for k, v in script.snapshots[3].items():
        np.testing.assert_array_equal(fresh.state_dict()[k].numpy(), v)
    assert fresh.load_checkpoint(every.saved[2]) == 3 and fresh.optimizer.loaded == {"lr": 0.05}


def test_model_checkpoint_max_mode_threshold_and_bad_format(rng, tmp_path, fake_files):
    x, y = data(rng)
    cp = ModelCheckpoint(str(tmp_path / "m.safetensors"), monitor="val_accuracy", save_best_only=True,
                         initial_value_threshold=0.6)
    small_model().fit(x, y, epochs=4, verbose=0, validation_split=0.25,
                      callbacks=[Scripted("val_accuracy", [0.5, 0.7, 0.65, 0.8]), cp])
    assert len(cp.saved) == 2 and cp.best == 0.8
    bad = ModelCheckpoint(str(tmp_path / "{val_acc}.safetensors"))
    with pytest.raises(ValueError, match="cannot format filepath"):
        small_model().fit(x, y, epochs=1, verbose=0, callbacks=[bad])


def test_model_checkpoint_file_loads_into_a_fresh_model(rng, tmp_path):
    x, y = data(rng)
    path = tmp_path / "ckpt.safetensors"
    model = small_model()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[ModelCheckpoint(str(path), save_weights_only=True, monitor="loss")])
    fresh = small_model()
    fresh.network.load_state_dict(tf.load(str(path)))
    np.testing.assert_array_equal(fresh.predict(x).numpy(), model.predict(x).numpy())
    full = tmp_path / "full.safetensors"
    model.fit(x, y, epochs=3, initial_epoch=2, verbose=0, callbacks=[ModelCheckpoint(str(full), monitor="loss")])
    other = small_model()
    assert other.load_checkpoint(str(full)) == 3
    np.testing.assert_array_equal(other.predict(x).numpy(), model.predict(x).numpy())


# ---- learning-rate schedules -----------------------------------------------------------------------------
def test_learning_rate_scheduler_function(rng):
    x, y = data(rng)
    model = small_model(lr=0.1)
    hist = model.fit(x, y, epochs=4, verbose=0, callbacks=[LearningRateScheduler(lambda epoch, lr: lr * 0.5)])
    assert hist.history["lr"] == [0.05, 0.025, 0.0125, 0.00625]
    assert model.optimizer.param_groups[0]["lr"] == 0.00625
    hist = model.fit(x, y, epochs=3, verbose=0, callbacks=[LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))])
    assert hist.history["lr"] == pytest.approx([0.1, 0.05, 0.1 / 3])
    with pytest.raises(ValueError, match="finite number"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda e, lr: float("nan"))])
    with pytest.raises(TypeError, match="schedule"):
        LearningRateScheduler(0.1)


def test_lr_scheduler_objects_step_per_epoch(rng):
    optim = tf.optim
    x, y = data(rng)
    model = tf.Model(nn.Sequential(nn.Linear(4, 2)))
    model.compile(optim.SGD(model.parameters(), lr=1.0), "mse")
    sched = optim.lr_scheduler.StepLR(model.optimizer, step_size=2, gamma=0.1)
    hist = model.fit(x, y, epochs=5, verbose=0, callbacks=[sched])  # a bare scheduler is wrapped
    assert hist.history["lr"] == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01])
    model.optimizer.param_groups[0]["lr"] = 1.0
    plateau = optim.lr_scheduler.ReduceLROnPlateau(model.optimizer, patience=1, factor=0.5)
    hist = model.fit(x, y, epochs=5, verbose=0, validation_split=0.25,
                     callbacks=[Scripted("val_loss", [1.0, 1.0, 1.0, 0.5, 0.6]),
                                LearningRateScheduler(plateau, monitor="val_loss")])
    assert hist.history["lr"] == pytest.approx([1.0, 1.0, 1.0, 0.5, 0.5])
    assert model.optimizer.param_groups[0]["lr"] == pytest.approx(0.5)


def test_reduce_lr_on_plateau_callback(rng):
    x, y = data(rng)
    model = small_model(lr=0.1)
    cb = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, cooldown=1, min_lr=0.02)
    hist = model.fit(x, y, epochs=9, verbose=0, validation_split=0.25,
                     callbacks=[Scripted("val_loss", [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]), cb])
    # 'lr' is the rate an epoch ran with. Epochs 1, 2 bad -> halved after 2; epoch 3 ends the
    # cooldown and counts as bad (Keras's order), 4 -> halved again; 5, 6 -> 0.0125 clamped to min_lr
    assert hist.history["lr"] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.02, 0.02])
    assert model.optimizer.param_groups[0]["lr"] == pytest.approx(0.02)


# ---- CSVLogger, TerminateOnNaN ---------------------------------------------------------------------------
def test_csv_logger_writes_and_appends(rng, tmp_path):
    x, y = data(rng)
    path = tmp_path / "log.csv"
    model = small_model(metrics=["mae"])
    hist = model.fit(x, y, epochs=3, verbose=0, validation_split=0.25, callbacks=[CSVLogger(str(path))])
    with open(path) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "loss", "lr", "mae", "val_loss", "val_mae"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    assert [float(r[1]) for r in rows[1:]] == pytest.approx(hist.history["loss"])
    assert [float(r[5]) for r in rows[1:]] == pytest.approx(hist.history["val_mae"])
    model.fit(x, y, epochs=5, initial_epoch=3, verbose=0, validation_split=0.25,
              callbacks=[CSVLogger(str(path), append=True)])
    with open(path) as f:
        rows = list(csv.reader(f))
    assert len(rows) == 6 and [r[0] for r in rows[1:]] == ["0", "1", "2", "3", "4"]
    model.fit(x, y, epochs=1, verbose=0, callbacks=[CSVLogger(str(path), separator=";")])
    assert open(path).read().splitlines()[0] == "epoch;loss;lr;mae"


def test_terminate_on_nan_stops_at_the_bad_batch(rng, capsys):
    x, y = data(rng, n=40)
    x[25] = np.inf
    cb = TerminateOnNaN()
    hist = small_model().fit(x, y, epochs=3, batch_size=10, shuffle=False, verbose=0, callbacks=[cb])
    assert cb.terminated_at == (0, 2)
    assert len(hist.epoch) == 1 and not math.isfinite(hist.history["loss"][0])
    assert "Batch 2: Invalid loss, terminating training" in capsys.readouterr().out


def test_lr_scheduler_stepped_per_batch(rng):
    optim = tf.optim
    x, y = data(rng, n=40)
    model = tf.Model(nn.Sequential(nn.Linear(4, 2)))
    model.compile(optim.SGD(model.parameters(), lr=1.0), "mse")
    sched = optim.lr_scheduler.LinearLR(model.optimizer, start_factor=0.1, end_factor=1.0, total_iters=10)
    lrs = []
    record = LambdaCallback(on_batch_begin=lambda b, logs: lrs.append(model.optimizer.param_groups[0]["lr"]))
    model.fit(x, y, epochs=2, batch_size=5, verbose=0, callbacks=[record, LearningRateScheduler(sched, interval="step")])
    assert lrs == pytest.approx([0.1 + 0.09 * i for i in range(10)] + [1.0] * 6)
    with pytest.raises(ValueError, match="interval"):
        LearningRateScheduler(lambda e, lr: lr, interval="step")

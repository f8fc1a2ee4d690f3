"""KerasScan and the worker processes it shares between scans (warm, or forked from the kernel)."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest

import hpo_widgets as hw

pytest.importorskip("keras")
sklearn_datasets = pytest.importorskip("sklearn.datasets")


def breast_cancer():
    x, y = sklearn_datasets.load_breast_cancer(return_X_y=True)
    return ((x - x.mean(0)) / x.std(0)).astype("float32"), y


def build(params):
    import keras

    model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.Adam(params["lr"]), "binary_crossentropy")
    return model


@pytest.fixture
def no_spares():
    from hpo_widgets import workers

    workers.release()
    yield workers
    workers.release()


def test_a_scan_built_again_in_a_cleared_folder_keeps_its_best_model(store, no_spares):
    """The worker that served the first scan is handed to the second, warm. It saw a far
    better val_loss in this folder before; the new scan's best model must still be saved."""
    x, y = breast_cancer()
    good = hw.KerasScan(build, {"lr": [0.03], "epochs": [20]}, x, y, metric="val_loss",
                        max_trials=1, store=store, name="same", test_split=0)
    good.start()
    assert good.wait(300) and good.trials[0].status == "finished", good.trials[0].error
    deadline = time.time() + 30
    while no_spares.spares() < 1 and time.time() < deadline:   # its pool hands it back
        time.sleep(0.1)
    assert no_spares.spares() == 1

    shutil.rmtree(store)                # the user clears the folder and builds it again
    poor = hw.KerasScan(build, {"lr": [1e-7], "epochs": [1]}, x, y, metric="val_loss",
                        max_trials=1, store=store, name="same", test_split=0)
    poor.start()
    assert poor.wait(300) and poor.trials[0].status == "finished", poor.trials[0].error
    deadline = time.time() + 30
    while no_spares.spares() < 1 and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    assert no_spares.spares() == 1      # the same worker ran it (a second would be a spare too)
    assert poor.best.value > good.best.value
    model = poor.best_model()           # its own best, saved though worse than the old one
    probs = np.asarray(model(x[:5]))
    assert probs.shape == (5, 1)

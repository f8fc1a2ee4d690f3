"""KerasScan with real Keras 3 / TensorFlow on scikit-learn's bundled data (no downloads)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import hpo_widgets as hw
from hpo_widgets import honest

keras = pytest.importorskip("keras")
sklearn_datasets = pytest.importorskip("sklearn.datasets")


def breast_cancer():
    x, y = sklearn_datasets.load_breast_cancer(return_X_y=True)
    return ((x - x.mean(0)) / x.std(0)).astype("float32"), y


def imbalanced(frac=0.02):
    """All benign cases (label 0 here) plus a few malignant (label 1): ~2% positives."""
    x, y = breast_cancer()
    y = 1 - y                        # malignant = 1
    pos = np.flatnonzero(y == 1)[: max(2, round(frac * (y == 0).sum()))]
    keep = np.concatenate([np.flatnonzero(y == 0), pos])
    return x[keep], y[keep]


def build(params):
    import keras

    model = keras.Sequential([keras.Input((30,)),
                              keras.layers.Dense(params["units"], activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.Adam(params["lr"]), "binary_crossentropy",
                  metrics=["accuracy"])
    return model


SPACE = {"units": [4, 16], "lr": (1e-3, 3e-2, "log"), "epochs": 3}


@pytest.fixture(scope="module", autouse=True)
def _no_idle_workers_left():
    yield
    from hpo_widgets import workers

    workers.release()   # warm Keras workers of these tests end with them


def test_keras_scan_end_to_end_in_a_worker_process(store):
    x, y = breast_cancer()
    scan = hw.KerasScan(build, SPACE, x, y, metric="val_f1", max_trials=3, store=store,
                        seed=0)
    assert scan.mode == "max"
    assert scan.split_sizes == {"train": 369, "val": 143, "test": 57} or \
        sum(scan.split_sizes.values()) == len(x)
    scan.start()
    assert scan.wait(300)
    df = scan.results
    assert (df.status == "finished").all(), df.error.tolist()
    for col in ("val_f1", "val_loss", "val_balanced_accuracy", "val_mcc", "val_pr_auc",
                "flags", "degenerate"):
        assert col in df.columns
    assert df.val_f1.min() > 0.8 and not df.degenerate.any()
    assert all(len(t.curve) == 3 for t in scan.trials)        # one report per epoch
    files = sorted(p.name for p in (scan.path / "weights").iterdir())
    assert files == ["best.json", "best.weights.h5"]           # only the best is kept
    model = scan.best_model()
    xv = np.load(scan.path / "data" / "x_val.npy")
    assert model.predict(xv[:5], verbose=0).shape == (5, 1)
    scan.close()


def test_talos_model_function_runs_unchanged_in_the_kernel(store):
    def talos_model(x_train, y_train, x_val, y_val, params):
        import keras

        model = keras.Sequential([keras.Input((x_train.shape[1],)),
                                  keras.layers.Dense(params["first_neuron"], activation="relu"),
                                  keras.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        out = model.fit(x_train, y_train, validation_data=[x_val, y_val],
                        batch_size=params["batch_size"], epochs=params["epochs"], verbose=0)
        return out, model

    x, y = breast_cancer()
    # 8 epochs: enough that a 4-unit net beats the 63% majority class from any start
    p = {"first_neuron": [4, 8], "batch_size": [32], "epochs": [8]}
    scan = hw.KerasScan(talos_model, p, x, y, metric="val_accuracy", workers=0,
                        max_trials=2, store=store)
    scan.start().wait(300)
    df = scan.results
    assert (df.status == "finished").all(), df.error.tolist()
    assert df.val_accuracy.min() > 0.7
    assert all(len(t.curve) == 8 for t in scan.trials)   # history replayed as reports


def test_a_constant_model_is_flagged_degenerate(store):
    def constant(params):
        import keras

        model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(
            1, activation="sigmoid", kernel_initializer="zeros",
            bias_initializer=keras.initializers.Constant(-5.0), trainable=False)])
        model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
        return model

    x, y = imbalanced()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scan = hw.KerasScan(constant, {"lr": [0.1], "epochs": 1}, x, y, metric="val_accuracy",
                            workers=0, max_trials=1, store=store)
    scan.start().wait(300)
    t = scan.trials[0]
    assert t.status == "finished", t.error
    assert t.metrics["val_accuracy"] > 0.9          # looks great...
    assert t.metrics["degenerate"] is True          # ...and is flagged
    assert "constant_prediction" in t.metrics["flags"]
    assert "no_true_positives" in t.metrics["flags"]
    assert t.metrics["val_f1"] == 0.0               # zero, not NaN
    assert scan.results.loc[t.id, "degenerate"]


def test_accuracy_on_imbalanced_data_warns_once(store):
    x, y = imbalanced()
    assert 0.01 < y.mean() < 0.03
    with pytest.warns(UserWarning, match="balanced") as rec:
        hw.KerasScan(build, SPACE, x, y, metric="val_accuracy", store=store, workers=0)
    assert len([w for w in rec if issubclass(w.category, UserWarning)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hw.KerasScan(build, SPACE, x, y, metric="val_f1", store=store, name="f1", workers=0)


def test_keras_is_imported_once_not_per_run(store):
    import time

    from hpo_widgets import workers

    x, y = breast_cancer()
    workers.release()
    scan = hw.KerasScan(build, SPACE, x, y, metric="val_f1", max_trials=2, store=store,
                        seed=0, name="again")
    assert workers.spares() == 1       # its worker starts importing Keras right away
    scan.start()
    assert scan.wait(300)
    first = {t.worker.split(":")[1] for t in scan.trials}
    scan.max_trials = 4
    t0 = time.time()
    scan.start()                       # a second run: the same warm worker, no import
    assert scan.wait(300)
    later = [t for t in scan.trials if t.id >= 2]
    assert {t.worker.split(":")[1] for t in later} == first and len(first) == 1
    assert min(t.started for t in later) - t0 < 1.5
    out = scan.evaluate(top=1, folds=2)   # evaluate() takes the same worker too
    assert len(out) == 1 and workers.spares() == 1
    scan.close()


def test_a_reopened_keras_scan_shows_results_and_says_how_to_resume(store):
    x, y = breast_cancer()
    scan = hw.KerasScan(build, SPACE, x, y, metric="val_f1", max_trials=1, store=store,
                        workers=0, name="reopen")
    scan.start().wait(300)
    scan.close()
    again = hw.load(scan.path)
    assert again.results.val_f1.tolist() == scan.results.val_f1.tolist()
    with pytest.raises(ValueError, match="is a KerasScan.*re-running hw.KerasScan"):
        again.start()
    with pytest.raises(ValueError, match="re-running hw.KerasScan"):
        hw.load(scan.path, objective=build)   # build(params) is not an objective


def test_evaluate_adds_cv_test_and_optimism(store):
    x, y = breast_cancer()
    scan = hw.KerasScan(build, SPACE, x, y, metric="val_f1", max_trials=2, store=store,
                        workers=0, seed=1)
    scan.start().wait(300)
    out = scan.evaluate(top=1, folds=2)
    assert list(out.columns) == ["val_f1", "cv_mean", "cv_std", "test", "test_validated",
                                 "optimism", "optimism_expected"]
    row = out.iloc[0]
    assert 0.5 < row.test <= 1.0 and 0.5 < row.cv_mean <= 1.0
    # optimism: the validated model's own validation and test scores, no refit between
    from sklearn.metrics import f1_score

    d = scan._keras_trial.data()
    same = f1_score(d["y_test"], (scan.best_model().predict(d["x_test"], verbose=0)[:, 0]
                                  > 0.5).astype(int))
    assert row.test_validated == pytest.approx(same)
    assert row.optimism == pytest.approx(row.val_f1 - row.test_validated)
    # the prediction from the kept validation predictions, in val_f1's units, next to it
    assert row.optimism_expected == pytest.approx(honest.luck(scan).optimism)
    df = scan.results
    assert df.loc[out.index[0], "test"] == row.test
    assert df["test"].isna().sum() == len(df) - 1


def test_bad_keras_input_is_refused_clearly(store):
    x, y = breast_cancer()
    with pytest.raises(ValueError, match="needs class labels"):
        hw.KerasScan(build, SPACE, x, x[:, 0], metric="val_f1", store=store)
    with pytest.raises(ValueError, match="validation_split > 0 or validation_data"):
        hw.KerasScan(build, SPACE, x, y, validation_split=0, store=store)
    with pytest.raises(ValueError, match="mode.*'min' or mode='max'"):
        hw.KerasScan(build, SPACE, x, y, metric="val_custom", store=store)
    with pytest.raises(ValueError, match="x has 569 rows but y has 10"):
        hw.KerasScan(build, SPACE, x, y[:10], store=store)

    def not_compiled(params):
        import keras

        return keras.Sequential([keras.Input((30,)), keras.layers.Dense(1)])

    scan = hw.KerasScan(not_compiled, SPACE, x, y, workers=0, max_trials=1, store=store,
                        name="nc")
    scan.start().wait(60)
    assert "not compiled" in scan.trials[0].error


def test_pandas_and_tf_data_inputs(store):
    pd = pytest.importorskip("pandas")
    tf = pytest.importorskip("tensorflow")
    x, y = breast_cancer()
    s1 = hw.KerasScan(build, SPACE, pd.DataFrame(x), pd.Series(y), store=store, workers=0,
                      name="pandas")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(64)
    s2 = hw.KerasScan(build, SPACE, ds, store=store, workers=0, name="tfdata")
    assert s1.split_sizes == s2.split_sizes
    assert sum(s2.split_sizes.values()) == len(x)


MEMORY_CHILD = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    import hpo_widgets as hw

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    def build(params):
        import keras
        m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(params["units"], "relu"),
                              keras.layers.Dense(1, "sigmoid")])
        m.compile("adam", "binary_crossentropy")
        return m

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8)).astype("float32")
    y = (x[:, 0] > 0).astype(int)
    scan = hw.KerasScan(build, {"units": (2, 16), "epochs": 1}, x, y, metric="val_loss",
                        max_trials=int(sys.argv[2]), store=sys.argv[1], recycle_mb=300)
    scan.start()
    r0 = None
    while not scan.wait(0.5):
        if r0 is None and scan.n_done >= 5:
            r0 = rss()      # after the first trials: imports and caches are warm
    print(json.dumps({"rss_start": r0, "rss_end": rss(), "done": scan.counts["finished"],
                      "tf_in_kernel": "tensorflow" in sys.modules}))
""")


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_kernel_memory_stays_flat_over_100_trials(tmp_path):
    import json

    script = tmp_path / "mem.py"
    script.write_text(MEMORY_CHILD)
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "s"), "100"],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["done"] == 100
    assert res["tf_in_kernel"] is False
    assert res["rss_end"] - res["rss_start"] < 100, res     # MB, generous


# -- Talos users' code, unchanged -------------------------------------------------------------
def passengers(n=400, seed=0):
    """Titanic-like rows as people load them: categories in strings, numbers, a label."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"pclass": rng.integers(1, 4, n), "sex": rng.choice(["male", "female"], n),
                       "age": rng.normal(30, 12, n).round(), "fare": rng.gamma(2, 15, n),
                       "embarked": rng.choice(["C", "Q", "S"], n)})
    logit = 1.5 * (df.sex == "female") - 0.6 * (df.pclass - 2) + 0.01 * (df.fare - 30)
    survived = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return df, survived


def talos_titanic(x_train, y_train, x_val, y_val, params):
    """A Talos template as its users write it: classes as values, 'acc', early stopping on
    val_acc, compiled precision/recall."""
    import keras

    model = keras.Sequential([keras.Input((x_train.shape[1],)),
                              keras.layers.Dense(params["first_neuron"],
                                                 activation=params["activation"]),
                              keras.layers.Dropout(params["dropout"]),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=params["optimizer"](learning_rate=params["lr"]),
                  loss="binary_crossentropy",
                  metrics=["acc", keras.metrics.Precision(thresholds=0.9, name="precision"),
                           keras.metrics.Recall(name="recall")])
    out = model.fit(x_train, y_train, validation_data=[x_val, y_val], verbose=0,
                    batch_size=params["batch_size"], epochs=params["epochs"],
                    callbacks=[keras.callbacks.EarlyStopping(monitor="val_acc", patience=2)])
    return out, model


def test_a_talos_template_with_get_dummies_data_runs_unchanged_in_a_worker(store):
    pd = pytest.importorskip("pandas")
    from keras.activations import elu, relu
    from keras.optimizers import Adam, Nadam

    df, survived = passengers()
    x = pd.get_dummies(df).values            # the Talos titanic loader: an object array
    assert x.dtype == object
    p = {"first_neuron": [8, 16], "activation": [relu, elu], "optimizer": [Adam, Nadam],
         "lr": (0.5, 5, 10), "dropout": (0, 0.5, 5), "batch_size": (16, 64, 2),
         "epochs": [4]}
    scan = hw.KerasScan(talos_titanic, p, x, survived, metric="val_precision", max_trials=3,
                        store=store, seed=0, strategy="random")
    # the dict searches what Talos searches: high excluded
    assert scan.space["dropout"].grid() == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])
    assert scan.space["batch_size"].grid() == [16, 40]
    assert scan.space["lr"].grid()[-1] == pytest.approx(4.55)
    scan.start()
    assert scan.wait(300)
    assert [t.status for t in scan.trials] == ["finished"] * 3, [t.error for t in scan.trials]
    for t in scan.trials:
        # the user's compiled precision (threshold 0.9) keeps its name and its value...
        assert t.metrics["val_precision"] == pytest.approx(t.curve[-1][1])
        # ...and ours (threshold 0.5, whole validation set) sits next to it
        assert 0 <= t.metrics["val_precision_hw"] <= 1 and "val_recall_hw" in t.metrics
        assert t.params["optimizer"] in (Adam, Nadam) and t.params["activation"] in (relu, elu)
    scan.close()


def two_inputs(seed=0, n=300):
    rng = np.random.default_rng(seed)
    ids = np.arange(n, dtype="float32")[:, None]           # a row id rides along in x_a
    a = np.hstack([ids, rng.normal(size=(n, 3)).astype("float32")])
    b = rng.normal(size=(n, 5)).astype("float32")
    y = ((a[:, 1] + b[:, 0]) > 0).astype(int)
    return [a, b], y


def test_two_input_model_is_scored_and_evaluate_never_hands_it_test_rows(store):
    seen = []   # ids of every row the model function received, per call

    def two_input_model(x_train, y_train, x_val, y_val, params):
        import keras

        seen.append(set(x_train[0][:, 0].astype(int)) | set(x_val[0][:, 0].astype(int)))
        in_a, in_b = keras.Input((4,)), keras.Input((5,))
        joined = keras.layers.Concatenate()([keras.layers.Dense(8, "relu")(in_a),
                                             keras.layers.Dense(8, "relu")(in_b)])
        model = keras.Model([in_a, in_b], keras.layers.Dense(1, "sigmoid")(joined))
        model.compile("adam", "binary_crossentropy", metrics=["acc"])
        out = model.fit(x_train, y_train, validation_data=(x_val, y_val), verbose=0,
                        epochs=params["epochs"], batch_size=32,
                        callbacks=[keras.callbacks.EarlyStopping(monitor="val_acc",
                                                                 patience=1)])
        return out, model

    x, y = two_inputs()
    scan = hw.KerasScan(two_input_model, {"epochs": [3], "units": [8]}, x, y, metric="val_f1",
                        workers=0, max_trials=1, store=store)
    assert sum(scan.split_sizes.values()) == len(y)
    scan.start().wait(300)
    t = scan.trials[0]
    assert t.status == "finished", t.error
    assert 0 <= t.metrics["val_f1"] <= 1 and "val_acc" in t.metrics
    test_ids = set(np.load(scan.path / "data" / "x_test@0.npy")[:, 0].astype(int))
    assert len(test_ids) == scan.split_sizes["test"]
    seen.clear()
    out = scan.evaluate(top=1, folds=2)
    assert len(seen) == 3                         # two folds and the final fit
    for rows in seen:
        assert not rows & test_ids                # the test set is never handed over
    final = seen[-1]
    assert len(final) == scan.split_sizes["train"] + scan.split_sizes["val"]
    for rows in seen[:2]:                         # a fold's scored rows are not given either
        assert len(rows) < len(final)
    assert 0 <= out.iloc[0].test <= 1


def test_when_our_scoring_cannot_run_the_history_counts_with_a_flag(store):
    def two_outputs(x_train, y_train, x_val, y_val, params):
        import keras

        inp = keras.Input((30,))
        h = keras.layers.Dense(4, "relu")(inp)
        model = keras.Model(inp, [keras.layers.Dense(1, "sigmoid", name="a")(h),
                                  keras.layers.Dense(1, "sigmoid", name="b")(h)])
        model.compile("adam", ["binary_crossentropy", "binary_crossentropy"])
        out = model.fit(x_train, [y_train, y_train], validation_data=(x_val, [y_val, y_val]),
                        epochs=params["epochs"], verbose=0)
        return out, model

    x, y = breast_cancer()
    scan = hw.KerasScan(two_outputs, {"epochs": [2]}, x, y, metric="val_loss", workers=0,
                        max_trials=1, store=store)
    scan.start().wait(300)
    t = scan.trials[0]
    assert t.status == "finished", t.error          # the training is not thrown away
    assert t.metrics["scored_from_history"] is True and t.metrics["scoring_error"]
    assert "scored_from_history" in t.metrics["flags"]
    assert t.value == pytest.approx(t.metrics["val_loss"])


def test_construction_checks_name_the_fix_and_leave_nothing_on_disk(store):
    pd = pytest.importorskip("pandas")
    x, y = breast_cancer()

    def refused(match, *args, exc=ValueError, **kw):
        kw.setdefault("store", store)
        kw.setdefault("workers", 0)
        with pytest.raises(exc, match=match):
            hw.KerasScan(build, *args, **kw)

    refused(r"epochs must be a whole number >= 1, got 0", SPACE, x, y, epochs=0)
    refused(r"batch_size must be a whole number >= 1, got 0", SPACE, x, y, batch_size=0)
    refused(r"'epochs'.*whole number >= 1, got 0", {**SPACE, "epochs": [0, 5]}, x, y)
    refused(r"'batch_size'.*got 0", {**SPACE, "batch_size": (0, 64)}, x, y)
    bad = x.copy()
    bad[7, 3] = np.nan
    refused(r"NaN or infinite.*row 7.*fillna", SPACE, bad, y)
    bad[7, 3] = np.inf
    refused(r"NaN or infinite", SPACE, bad, y)
    df, survived = passengers(50)
    refused(r"not numbers \(e.g. '(male|female)'\).*get_dummies", SPACE, df.values, survived)
    refused(r"single class \(every label is 1\).*val_f1", SPACE, x, np.ones(len(x), int),
            metric="val_f1")
    refused(r"single class", SPACE, x, np.zeros(len(x)), metric="val_accuracy")
    refused(r"unknown option 'epoch'; did you mean 'epochs'\?.*KerasScan's options",
            SPACE, x, y, exc=TypeError, epoch=3)
    refused(r"'\.\./x'", SPACE, x, y, name="../x")
    assert not store.exists() or not any(store.iterdir())    # nothing was left on disk
    # string labels are encoded (and kept, to read the classes back)
    labels = np.where(y == 1, "benign", "malignant")
    s = hw.KerasScan(build, SPACE, pd.DataFrame(x), pd.Series(labels), store=store, workers=0,
                     metric="val_f1")
    assert s.classes == ["benign", "malignant"] and s.n_classes == 2
    # a name is kept as given: two scans, two folders
    a = hw.KerasScan(build, SPACE, x, y, store=store, workers=0, name="exp-1")
    b = hw.KerasScan(build, SPACE, x, y, store=store, workers=0, name="exp-2")
    assert (a.name, b.name) == ("exp-1", "exp-2") and a.path != b.path
    assert a.path.name == "exp-1"


def test_a_trial_seed_still_fixes_initial_weights_and_dropout():
    """TensorFlow's seed is set once per process (it clears TF's kernel cache), yet a
    trial's seed still decides its model's initial weights and dropout masks."""
    from hpo_widgets.keras import _seed

    def first_weights_and_dropout(seed):
        _seed(seed)
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4),
                                  keras.layers.Dropout(0.5)])
        out = model(np.ones((2, 8), "float32"), training=True)
        return model.get_weights()[0], keras.ops.convert_to_numpy(out)

    w1, d1 = first_weights_and_dropout(5)
    w2, _ = first_weights_and_dropout(6)
    w3, d3 = first_weights_and_dropout(5)
    assert not np.array_equal(w1, w2)
    assert np.array_equal(w1, w3) and np.array_equal(d1, d3)


def test_named_inputs_are_split_row_by_row_together(store):
    rng = np.random.default_rng(1)
    ids = np.arange(200, dtype="float32")
    x = {"numbers": np.column_stack([ids, rng.normal(size=200)]).astype("float32"),
         "tokens": np.column_stack([ids, ids * 2]).astype("int64")}
    y = rng.integers(0, 2, 200)
    scan = hw.KerasScan(build, SPACE, x, y, store=store, workers=0, metric="val_f1",
                        test_split=0.2, name="named")
    import json

    folder = scan.path / "data"
    assert json.loads((folder / "layout.json").read_text())["x_val"]["names"] == \
        ["numbers", "tokens"]
    seen = []
    for part, ys in (("x_train", "y_train"), ("x_val", "y_val"), ("x_test", "y_test")):
        num, tok = np.load(folder / f"{part}@0.npy"), np.load(folder / f"{part}@1.npy")
        assert np.array_equal(num[:, 0], tok[:, 0]) and tok.dtype == np.int64
        assert np.array_equal(np.load(folder / f"{ys}.npy"), y[num[:, 0].astype(int)])
        seen.extend(num[:, 0])
    assert sorted(seen) == list(ids)       # every row once, in exactly one part


def test_evaluate_never_hands_a_talos_function_the_rows_it_scores(store):
    seen = []   # (ids received as training rows, ids received as validation rows) per call

    def talos_model(x_train, y_train, x_val, y_val, params):
        import keras

        seen.append((set(x_train[:, 0].astype(int)), set(x_val[:, 0].astype(int))))
        model = keras.Sequential([keras.Input((x_train.shape[1],)),
                                  keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dense(1, activation="sigmoid")])
        model.compile("adam", "binary_crossentropy", metrics=["acc"])
        out = model.fit(x_train, y_train, validation_data=(x_val, y_val), verbose=0,
                        epochs=params["epochs"], callbacks=[keras.callbacks.EarlyStopping(
                            monitor="val_acc", patience=1, restore_best_weights=True)])
        return out, model

    x, y = breast_cancer()
    x = np.column_stack([np.arange(len(x)), x]).astype("float32")   # a row id in column 0
    scan = hw.KerasScan(talos_model, {"epochs": [3]}, x, y, metric="val_acc", workers=0,
                        max_trials=1, store=store)
    scan.start().wait(300)
    test_ids = set(np.load(scan.path / "data" / "x_test.npy")[:, 0].astype(int))
    seen.clear()
    scan.evaluate(top=1, folds=2)
    assert len(seen) == 3
    for fit_rows, val_rows in seen:
        assert not (fit_rows | val_rows) & test_ids      # the test set: never handed over
        assert not fit_rows & val_rows
    # a fold's scored rows are neither trained on nor used for early stopping
    (f1, v1), (f2, v2) = seen[0], seen[1]
    assert not (f1 | v1) & (f2 | v2)                      # two folds: each scores the other


# -- the honest score (issue 13) ------------------------------------------------------------
def test_a_classification_scan_with_no_metric_scans_by_the_honest_score(store):
    x, y = imbalanced(0.1)
    scan = hw.KerasScan(build, SPACE, x, y, workers=0, max_trials=2, store=store, seed=0)
    assert (scan.metric, scan.mode) == ("honest", "max")
    scan.start().wait(300)
    df = scan.results
    assert (df["status"] == "finished").all(), df["error"].tolist()
    for col in ("honest", "honest_mcc", "honest_sd", "honest_lower", "honest_upper",
                "honest_gap", "honest_train_mcc", "honest_degenerate", "honest_n"):
        assert df[col].notna().all(), col
    assert (df["honest"] <= df["honest_mcc"].clip(lower=0) + 1e-12).all()
    assert (df["honest_n"] == scan.split_sizes["val"]).all()
    for t in scan.trials:      # the value is the honest score; each epoch was reported
        assert t.value == t.metrics["honest"]
        assert len(t.curve) == SPACE["epochs"]
    # predictions were kept: selection luck works on any KerasScan
    kept = sorted(p.name for p in (scan.path / "predictions").glob("*.npz"))
    assert kept == [f"{t.id}.npz" for t in scan.trials]
    luck = honest.luck(scan)
    assert luck.metric == "mcc" and set(luck.p_best) == {t.id for t in scan.trials}
    assert luck.best == scan.best.id and "best" in luck.sentence


def test_a_regression_scan_with_no_metric_scans_by_val_loss(store):
    x, _ = breast_cancer()
    target = (x[:, 0] * 0.7 + 0.1 * x[:, 1]).astype("float32")

    def regressor(params):
        import keras

        model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(1)])
        model.compile("adam", "mse")
        return model

    scan = hw.KerasScan(regressor, {"epochs": [1]}, x, target, workers=0, max_trials=1,
                        store=store)
    assert (scan.metric, scan.mode) == ("val_loss", "min")
    scan.start().wait(300)
    t = scan.trials[0]
    assert t.status == "finished", t.error
    assert "honest" not in t.metrics and not (scan.path / "predictions").exists()


def test_any_classification_metric_gets_honest_columns_and_kept_predictions(store):
    x, y = two_inputs()

    def two_input_build(params):
        import keras

        in_a, in_b = keras.Input((4,)), keras.Input((5,))
        joined = keras.layers.Concatenate()([in_a, in_b])
        model = keras.Model([in_a, in_b], keras.layers.Dense(1, "sigmoid")(joined))
        model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy")
        return model

    scan = hw.KerasScan(two_input_build, {"epochs": [2, 3]}, x, y, metric="val_accuracy",
                        workers=0, max_trials=2, store=store)
    scan.start().wait(300)
    for t in scan.trials:
        assert t.status == "finished", t.error
        assert 0 <= t.metrics["honest"] <= 1 and "honest_gap" in t.metrics
    assert honest.luck(scan).metric == "accuracy"   # luck in the scan's own metric


def test_multiclass_honest_scan_and_evaluate_measures_and_predicts_optimism(store):
    x, y = sklearn_datasets.load_digits(return_X_y=True)
    x = (x / 16).astype("float32")

    def softmax(params):
        import keras

        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, "softmax")])
        model.compile(keras.optimizers.Adam(params["lr"]), "sparse_categorical_crossentropy")
        return model

    scan = hw.KerasScan(softmax, {"lr": [0.003, 0.03], "epochs": 2}, x, y, workers=0,
                        max_trials=2, store=store)
    assert scan.metric == "honest"
    scan.start().wait(300)
    for t in scan.trials:
        assert t.status == "finished", t.error
        assert t.metrics["honest_mcc"] > 0.5 and 0 < t.value < t.metrics["honest_mcc"]
    out = scan.evaluate(top=2, folds=2)
    best = scan.best.id
    assert out.loc[best, "optimism"] == pytest.approx(
        scan.trial(best).metrics["honest_mcc"] - out.loc[best, "test_validated"])
    assert out["optimism"].notna().sum() == 1      # only the chosen model is kept
    assert 0.5 < out.loc[best, "test"] <= 1           # test scored by MCC
    expected = honest.luck(scan).optimism
    assert out.loc[best, "optimism_expected"] == pytest.approx(expected)
    df = scan.results                  # predicted and measured side by side in results
    assert df.loc[best, "optimism_expected"] == pytest.approx(expected)
    assert df["optimism_expected"].notna().sum() == 1


def test_a_worker_process_keeps_predictions_under_a_relative_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)          # store="hpo_scans" as people write it: relative
    x, y = breast_cancer()
    scan = hw.KerasScan(build, {**SPACE, "epochs": 2}, x, y, max_trials=2, seed=0)
    assert scan.start().wait(300)
    assert all(t.status == "finished" for t in scan.trials), [t.error for t in scan.trials]
    kept = sorted(p.name for p in (tmp_path / "hpo_scans" / "build" / "predictions")
                  .glob("*.npz"))
    assert kept == ["0.npz", "1.npz"]
    assert honest.luck(str(tmp_path / "hpo_scans" / "build")).n_trials == 2
    scan.close()

"""Why can ``model.fit`` run slower in our worker than in a plain loop? Measured, not guessed.

One process trains the same small MLP (``bench/keras_memory.py``'s model and data) many
times, and each suspected cause is switched on and off *in turn* (the order rotates every
round, so the load of a shared machine and any first-in-round effect fall on every variant
alike). Reported: the median ``model.fit`` time per
variant and its ratio to the plain variant.

``plain``       in-memory arrays, no seeding (what the loop does)
``mmap``        the arrays memory-mapped from .npy files (what the worker did up to now)
``seeded``      ``keras.utils.set_random_seed(seed + i)`` before each trial (the worker does)
``seeded-py``   Python's and NumPy's seeds per trial (weight init and dropout seeds come from
                them), TensorFlow's once per process: ``tf.random.set_seed`` also clears
                TensorFlow's eager kernel cache, so every trial re-creates its kernels
``callback``    our per-epoch reporter callback attached (reads ``logs``; no prediction)
``mmap+seeded`` both

Run::

    python bench/keras_fit_causes.py --rounds 8 --epochs 6
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

VARIANTS = ("plain", "mmap", "seeded", "seeded-py", "callback", "mmap+seeded")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args()
    import keras
    import numpy as np
    from keras_memory import build, load_data

    (xtr, ytr), (xva, yva), _ = load_data()
    tmp = Path(tempfile.mkdtemp(prefix="fitcauses-"))
    for name, a in (("xtr", xtr), ("ytr", ytr), ("xva", xva), ("yva", yva)):
        np.save(tmp / f"{name}.npy", a)
    mm = {n: np.load(tmp / f"{n}.npy", mmap_mode="r") for n in ("xtr", "ytr", "xva", "yva")}

    class Reporter(keras.callbacks.Callback):   # what ours does when the metric is logged
        def on_epoch_end(self, epoch, logs=None):
            float((logs or {}).get("val_accuracy", 0.0))

    names = args.variants.split(",")
    times: dict[str, list[float]] = {n: [] for n in names}
    params = {"units": 32, "lr": 1e-3}
    build(params).fit(xtr, ytr, epochs=1, verbose=0)   # first-use costs out of the way
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]   # each goes first in turn
        for i, v in enumerate(order):
            if v == "seeded-py":
                random.seed(r * 100 + i)
                np.random.seed(r * 100 + i)
            elif "seeded" in v:
                keras.utils.set_random_seed(r * 100 + i)
            data = (mm["xtr"], mm["ytr"], mm["xva"], mm["yva"]) if "mmap" in v else \
                (xtr, ytr, xva, yva)
            model = build(params)
            cbs = [Reporter()] if v == "callback" else []
            t = time.perf_counter()
            model.fit(data[0], data[1], validation_data=(data[2], data[3]),
                      epochs=args.epochs, batch_size=args.batch_size, verbose=0, callbacks=cbs)
            times[v].append(time.perf_counter() - t)
            del model
    base = statistics.median(times[names[0]])
    print(f"\n{args.rounds} rounds x {args.epochs} epochs, interleaved; load "
          f"{os.getloadavg()[0]:.1f}\n")
    print("variant | median fit s | x plain | min | max | median of per-round ratios")
    print("---|---|---|---|---|---")
    for v in names:
        m = statistics.median(times[v])
        paired = statistics.median(a / b for a, b in zip(times[v], times[names[0]], strict=True))
        print(f"{v} | {m:.3f} | {m / base:.3f} | {min(times[v]):.3f} | {max(times[v]):.3f} | "
              f"{paired:.3f}")


if __name__ == "__main__":
    main()

"""Execute a notebook headless (what `make demo HEADLESS=1` does) and print its last output.

    python notebooks/run.py notebooks/quickstart.ipynb
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbclient
import nbformat


def main(path: str) -> int:
    nb = nbformat.read(path, as_version=4)
    t0 = time.time()
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(Path(path).parent)}})
    client.execute()
    print(f"executed {path} in {time.time() - t0:.1f} s")
    for cell in reversed(nb.cells):
        texts = [o.get("text", "") or o.get("data", {}).get("text/plain", "")
                 for o in cell.get("outputs", [])]
        texts = [t for t in texts if t]
        if texts:
            print("".join(texts).rstrip())
            break
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

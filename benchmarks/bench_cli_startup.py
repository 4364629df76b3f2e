"""How long the command line takes before it does any work.

``import artmedium`` and ``artmedium --help`` / ``--version`` load nothing heavy:
torch, torchvision and scikit-learn are imported by the command that needs them.
This script measures, in fresh interpreters in one run (median of ``--repeat``):

- ``import artmedium`` and ``artmedium --version`` (lazy);
- importing every public name, as ``import artmedium`` did before it was lazy;
- ``artmedium predict`` on one small generated image with the embedded model
  (the whole job: imports, model load, decode, forward, output);

and prints the ratio of the eager import to ``artmedium --version``.

Usage::

    python benchmarks/bench_cli_startup.py [--repeat 5]
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

EAGER = "import artmedium; [getattr(artmedium, n) for n in artmedium.__all__]"
CLI = [sys.executable, "-m", "artmedium.cli"]


def wall(cmd, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "scan.jpg"
        rng = np.random.RandomState(0)
        Image.fromarray(rng.randint(0, 256, (300, 400, 3), np.uint8)).save(image)
        wall([sys.executable, "-c", EAGER], 1)  # warm the OS file cache
        rows = {
            "python -c 'import artmedium'": wall(
                [sys.executable, "-c", "import artmedium"], args.repeat
            ),
            "artmedium --version": wall([*CLI, "--version"], args.repeat),
            "import every public name (the old eager import)": wall(
                [sys.executable, "-c", EAGER], args.repeat
            ),
            "artmedium predict one 400x300 JPEG": wall(
                [*CLI, "predict", str(image), "--quiet"], args.repeat
            ),
        }
    for name, seconds in rows.items():
        print(f"{name:<50} {seconds:6.2f} s")
    eager = rows["import every public name (the old eager import)"]
    ratio = eager / rows["artmedium --version"]
    print(f"eager import / artmedium --version: {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

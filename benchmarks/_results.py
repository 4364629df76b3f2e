"""Writing a benchmark's results: one JSON file, complete or not at all."""

import json
import os
import sys
from pathlib import Path


def write_results(path, results):
    """Write ``results`` as indented JSON to ``path`` atomically, and say so."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, path)
    print(f"wrote {path}", file=sys.stderr)

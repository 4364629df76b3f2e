"""Streaming writers for prediction rows, and an all-or-nothing output file.

Private: the formats of ``artmedium predict`` (table, csv, jsonl, json). Each
writer gets ``start()``, then ``write(rows)`` once per batch, then ``finish()``;
nothing waits in memory beyond one batch.
"""

import csv
import json
import os
import uuid
from pathlib import Path

FORMATS = ("table", "csv", "jsonl", "json")


def make_writer(fmt, stream, *, top_k, tag_names):
    """The writer of format ``fmt`` onto the text stream ``stream``."""
    if fmt == "csv":
        return CsvWriter(stream, top_k, tag_names)
    if fmt == "jsonl":
        return JsonLinesWriter(stream)
    if fmt == "json":
        return JsonWriter(stream)
    if fmt == "table":
        return TableWriter(stream, bool(tag_names))
    raise ValueError(f"unknown output format {fmt!r}; expected one of {FORMATS}")


def _fmt(value, digits):
    return "" if value is None else f"{value:.{digits}f}"


class CsvWriter:
    """One line per row: top-k media and every tag probability in columns."""

    def __init__(self, stream, k, tag_names):
        self.k = k
        self.tag_names = tag_names
        self.writer = csv.writer(stream, lineterminator="\n")
        self.stream = stream

    def start(self):
        header = ["path", "medium", "probability"]
        for r in range(1, self.k + 1):
            header += [f"top{r}", f"top{r}_probability"]
        header += ["tags", *(f"tag:{t}" for t in self.tag_names), "error"]
        self.writer.writerow(header)

    def write(self, rows):
        for row in rows:
            line = [
                row["path"],
                "" if row["medium"] is None else row["medium"],
                _fmt(row["probability"], 6),
            ]
            for r in range(self.k):
                if r < len(row["top_k"]):
                    alt = row["top_k"][r]
                    line += [alt["medium"], _fmt(alt["probability"], 6)]
                else:
                    line += ["", ""]
            line.append(";".join(row["tags"]))
            line += [_fmt(row["tag_probabilities"].get(t), 6) for t in self.tag_names]
            line.append(row["error"])
            self.writer.writerow(line)

    def finish(self):
        pass


class JsonLinesWriter:
    """One JSON object per line."""

    def __init__(self, stream):
        self.stream = stream

    def start(self):
        pass

    def write(self, rows):
        for row in rows:
            self.stream.write(json.dumps(row, ensure_ascii=False) + "\n")

    def finish(self):
        pass


class JsonWriter:
    """A JSON array written element by element, so nothing waits in memory."""

    def __init__(self, stream):
        self.stream = stream
        self.first = True

    def start(self):
        self.stream.write("[")

    def write(self, rows):
        for row in rows:
            self.stream.write("\n" if self.first else ",\n")
            self.stream.write(json.dumps(row, ensure_ascii=False))
            self.first = False

    def finish(self):
        self.stream.write("\n]\n" if not self.first else "]\n")


class TableWriter:
    """Aligned columns; widths come from the first batch (rows stream after it)."""

    columns = ("path", "medium", "probability", "alternatives", "tags", "error")

    def __init__(self, stream, with_tags):
        self.stream = stream
        self.with_tags = with_tags
        self.widths = None

    def start(self):
        pass

    def _cells(self, row):
        alternatives = ", ".join(
            f"{a['medium']} {a['probability']:.3f}" for a in row["top_k"][1:]
        )
        cells = {
            "path": row["path"],
            "medium": "" if row["medium"] is None else str(row["medium"]),
            "probability": _fmt(row["probability"], 3),
            "alternatives": alternatives,
            "tags": ", ".join(row["tags"]),
            "error": row["error"],
        }
        return [cells[c] for c in self._shown()]

    def _shown(self):
        return [c for c in self.columns if self.with_tags or c != "tags"]

    def write(self, rows):
        cells = [self._cells(r) for r in rows]
        if self.widths is None:
            header = self._shown()
            self.widths = [
                max([len(h)] + [len(c[j]) for c in cells]) for j, h in enumerate(header)
            ]
            self._line(header)
        for c in cells:
            self._line(c)

    def _line(self, cells):
        padded = [c.ljust(w) for c, w in zip(cells[:-1], self.widths)] + [cells[-1]]
        self.stream.write("  ".join(padded).rstrip() + "\n")

    def finish(self):
        if self.widths is None:
            # No batch came at all: a header alone, as an empty batch would give.
            self.write([])


class AtomicOutput:
    """A text file written under a temporary name, renamed into place on commit.

    Raises :class:`IsADirectoryError` if ``path`` is a folder,
    :class:`FileExistsError` if it exists and ``overwrite`` is false, and
    :class:`OSError` if the temporary file cannot be created.
    """

    def __init__(self, path, *, overwrite):
        self.path = Path(path)
        if self.path.is_dir():
            raise IsADirectoryError(f"{self.path} is a folder, not a file")
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path} already exists")
        self.tmp = self.path.parent / f".{self.path.name}.{uuid.uuid4().hex[:12]}.part"
        self.stream = open(self.tmp, "x", encoding="utf-8", newline="")

    def commit(self):
        self.stream.flush()
        os.fsync(self.stream.fileno())
        self.stream.close()
        os.replace(self.tmp, self.path)

    def abort(self):
        self.stream.close()
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass

"""Streaming writers for prediction rows, and an all-or-nothing output file.

Private: the formats of ``artmedium predict`` (table, csv, jsonl, json). Each
writer gets ``start()``, then ``write(rows)`` once per batch, then ``finish()``;
nothing waits in memory beyond one batch.

File names come from strangers (scans, downloads), so text is made safe here,
once, by three rules:

- :func:`escape_text` (csv and table cells): control characters, undecodable
  bytes and the backslash become backslash escapes, so that one row is one
  line, no escape sequence reaches a terminal, and the name can be recovered.
- :func:`neutralise_formula` (csv and table cells): a cell that a spreadsheet
  would run as a formula gets a ``'`` in front (OWASP's rule for CSV injection).
- :func:`json_text` (jsonl and json): valid UTF-8 JSON whose strings load back
  to exactly the names found, undecodable bytes included.
"""

import csv
import json
import os
import re
import stat
import uuid
from pathlib import Path

from artmedium._files import NotRegularFileError, file_kind

FORMATS = ("table", "csv", "jsonl", "json")

# What must not reach a terminal or split a line, as text: C0 and C1 controls and
# DEL; the Unicode line and paragraph separators; the bidirectional embeddings,
# overrides and isolates, which reorder what a terminal shows ("gnp.exe"); and lone
# surrogates, which are how os.fsdecode keeps bytes that are not UTF-8.
_UNSAFE = "\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
# The backslash too in cells, so that the escapes can be undone.
_CELL_UNSAFE = re.compile(f"[\\\\{_UNSAFE}]")
_JSON_UNSAFE = re.compile(f"[{_UNSAFE}]")
_NAMED_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}

# OWASP, "CSV Injection": a cell starting with one of these may run as a formula.
# A leading quote is included so that dropping one leading quote undoes the rule.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def _escape_char(match):
    char = match.group()
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    code = ord(char)
    if code < 0x80:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:  # the byte code - 0xDC00 that was not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def escape_text(text):
    r"""Backslash-escape what could split a line or drive a terminal.

    ``\n``, ``\r``, ``\t`` and ``\\`` for those characters; ``\xNN`` for the other
    ASCII controls (NUL to US, and DEL) and for a byte of a file name that is not
    UTF-8 (kept by :func:`os.fsdecode` as a lone surrogate); ``\uNNNN`` for C1
    controls, other lone surrogates, the Unicode line and paragraph separators
    and the bidirectional override and isolate characters. Everything else is
    kept, so readable names stay readable, and the escaping can be undone: the
    UTF-8 bytes of the result with its escapes decoded are the original name's
    bytes (``os.fsencode``).

    Parameters
    ----------
    text : str

    Returns
    -------
    str
        ``text`` with no control character, line break or lone surrogate.

    Examples
    --------
    >>> print(escape_text("\x1b[31mred\n.png"))
    \x1b[31mred\n.png
    >>> import os
    >>> print(escape_text(os.fsdecode(b"caf\xe9.png")))
    caf\xe9.png
    """
    return _CELL_UNSAFE.sub(_escape_char, text)


def neutralise_formula(cell):
    """Put a ``'`` before a cell that a spreadsheet would read as a formula.

    A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
    gets a single quote in front, as OWASP recommends against CSV injection; so
    does one starting with ``'``, so that a reader dropping one leading quote
    always gets the cell back. Apply it to text, never to numbers.

    Parameters
    ----------
    cell : str

    Returns
    -------
    str

    Examples
    --------
    >>> neutralise_formula("=HYPERLINK(1).jpg")
    "'=HYPERLINK(1).jpg"
    >>> neutralise_formula("scans/a.jpg")
    'scans/a.jpg'
    """
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def text_cell(text):
    r"""A text cell of the csv and table formats: escaped, then neutralised.

    Parameters
    ----------
    text : str

    Returns
    -------
    str
        :func:`neutralise_formula` of :func:`escape_text`: one line, no control
        character, never the start of a formula.

    Examples
    --------
    >>> print(text_cell("=cmd|'/c calc'!A0\n.jpg"))
    '=cmd|'/c calc'!A0\n.jpg
    """
    return neutralise_formula(escape_text(text))


def json_text(value):
    r"""``value`` as one line of JSON that is valid UTF-8 and safe on a terminal.

    Readable text stays as it is (``ensure_ascii=False``); what :func:`escape_text`
    would escape is written as a JSON ``\uNNNN`` escape instead, including a lone
    surrogate. :func:`json.loads` gives every string back exactly, so
    ``os.fsencode(json.loads(line)["path"])`` is the file name's original bytes.

    Parameters
    ----------
    value : dict, list, str, number, bool or None

    Returns
    -------
    str

    Examples
    --------
    >>> import json, os
    >>> line = json_text({"path": os.fsdecode(b"caf\xe9 \xc3\xa9.png")})
    >>> print(line)
    {"path": "caf\udce9 é.png"}
    >>> os.fsencode(json.loads(line)["path"])
    b'caf\xe9 \xc3\xa9.png'
    """
    text = json.dumps(value, ensure_ascii=False)
    # Raw characters only occur inside JSON strings, where an escape means the same.
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def make_writer(fmt, stream, *, top_k, tag_names):
    """The writer of format ``fmt`` onto the text stream ``stream``.

    Parameters
    ----------
    fmt : {"table", "csv", "jsonl", "json"}
    stream : text file
    top_k : int
        Alternatives per row (the csv columns ``top1`` ... ``top<k>``).
    tag_names : list of str
        The tags reported (csv columns ``tag:<name>``; the table's tags column
        is shown when there are any).

    Returns
    -------
    CsvWriter, JsonLinesWriter, JsonWriter or TableWriter
    """
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
    """One line per row: top-k media and every tag probability in columns.

    Every text cell (header, path, media, tags, error) goes through
    :func:`text_cell`; the numbers, which we write, are never negative.
    Quoting alone would keep a line break inside its cell, but CSV is also read
    on terminals and by line-based tools, and names that are not UTF-8 need an
    escape anyway: one rule for csv and table.
    """

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
        self.writer.writerow([text_cell(h) for h in header])

    def write(self, rows):
        for row in rows:
            line = [
                text_cell(row["path"]),
                "" if row["medium"] is None else text_cell(str(row["medium"])),
                _fmt(row["probability"], 6),
            ]
            for r in range(self.k):
                if r < len(row["top_k"]):
                    alt = row["top_k"][r]
                    line += [text_cell(str(alt["medium"])), _fmt(alt["probability"], 6)]
                else:
                    line += ["", ""]
            line.append(text_cell(";".join(row["tags"])))
            line += [_fmt(row["tag_probabilities"].get(t), 6) for t in self.tag_names]
            line.append(text_cell(row["error"]))
            self.writer.writerow(line)

    def finish(self):
        pass


class JsonLinesWriter:
    """One JSON object per line (:func:`json_text`: names kept exactly)."""

    def __init__(self, stream):
        self.stream = stream

    def start(self):
        pass

    def write(self, rows):
        for row in rows:
            self.stream.write(json_text(row) + "\n")

    def finish(self):
        pass


class JsonWriter:
    """A JSON array written element by element, so nothing waits in memory.

    Elements are :func:`json_text`: names kept exactly.
    """

    def __init__(self, stream):
        self.stream = stream
        self.first = True

    def start(self):
        self.stream.write("[")

    def write(self, rows):
        for row in rows:
            self.stream.write("\n" if self.first else ",\n")
            self.stream.write(json_text(row))
            self.first = False

    def finish(self):
        self.stream.write("\n]\n" if not self.first else "]\n")


class TableWriter:
    """Aligned columns; widths come from the first batch (rows stream after it).

    Every cell goes through :func:`text_cell`: one row is one line, with no
    control character and no cell a spreadsheet would run.
    """

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
        return [text_cell(cells[c]) for c in self._shown()]

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


def _check_replaceable(path, overwrite):
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"{path} is a folder, not a file")
    if not stat.S_ISREG(mode):
        raise NotRegularFileError(path, file_kind(mode))
    if not overwrite:
        raise FileExistsError(f"{path} already exists")


class AtomicOutput:
    """A text file written under a temporary name, renamed into place on commit.

    The temporary file is a hidden ``.<name>.<random>.part`` beside ``path``.
    Only a regular file is ever replaced: a link, a device, a FIFO or a socket
    at ``path`` is refused (checked with :func:`os.lstat` on opening and again
    just before the rename). Used as a context manager, it aborts unless
    committed.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    overwrite : bool
        Replace an existing regular file.

    Attributes
    ----------
    stream : text file
        Where to write (UTF-8).

    Raises
    ------
    IsADirectoryError
        ``path`` is a folder.
    NotRegularFileError
        ``path`` exists and is not a regular file.
    FileExistsError
        ``path`` exists and ``overwrite`` is false.
    OSError
        The temporary file cannot be created.
    """

    def __init__(self, path, *, overwrite):
        self.path = Path(path)
        self.overwrite = overwrite
        self._done = False
        _check_replaceable(self.path, overwrite)
        self.tmp = self.path.parent / f".{self.path.name}.{uuid.uuid4().hex[:12]}.part"
        self.stream = open(self.tmp, "x", encoding="utf-8", newline="")

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.abort()

    def commit(self):
        """Flush, sync and rename into place; on any failure, :meth:`abort`.

        Raises
        ------
        OSError
            Writing, syncing or renaming failed (nothing is left behind, and
            ``path`` is as it was), or ``path`` became something that must not
            be replaced (:class:`NotRegularFileError`, ...).
        """
        try:
            self.stream.flush()
            os.fsync(self.stream.fileno())
            self.stream.close()
            _check_replaceable(self.path, self.overwrite)
            os.replace(self.tmp, self.path)
        except BaseException:
            self.abort()
            raise
        self._done = True

    def abort(self):
        """Close and remove the temporary file; nothing once committed or aborted.

        Never raises for the data being thrown away (a failed final flush).
        """
        if self._done:
            return
        self._done = True
        try:
            self.stream.close()
        except OSError:
            pass  # the unwritten data is being discarded anyway
        finally:
            try:
                os.unlink(self.tmp)
            except FileNotFoundError:
                pass

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
import unicodedata
import uuid
from pathlib import Path

from artmedium._answers import STATUSES
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


def make_writer(
    fmt,
    stream,
    *,
    top_k,
    tag_names,
    paths=None,
    media=None,
    width=None,
    with_status=False,
):
    """The writer of format ``fmt`` onto the text stream ``stream``.

    Parameters
    ----------
    fmt : {"table", "csv", "jsonl", "json"}
    stream : text file
    top_k : int
        Media per row (the csv columns ``top1`` ... ``top<k>``; the table's
        alternatives column is shown when above 1).
    tag_names : list of str
        The tags reported (csv columns ``tag:<name>``; the table's tags column
        is shown when there are any). The csv ``tags`` and ``aat_ids``
        columns are always there.
    paths, media, width
        For the table only: see :class:`TableWriter`.
    with_status : bool, default=False
        The rows have ``status``, ``candidates`` and ``novelty`` (a calibrated
        model's): csv columns after ``probability``, table columns ``status``
        and ``candidates``. The json formats write the rows' keys as they are.

    Returns
    -------
    CsvWriter, JsonLinesWriter, JsonWriter or TableWriter
    """
    if fmt == "csv":
        return CsvWriter(stream, top_k, tag_names, with_status=with_status)
    if fmt == "jsonl":
        return JsonLinesWriter(stream)
    if fmt == "json":
        return JsonWriter(stream)
    if fmt == "table":
        return TableWriter(
            stream,
            top_k=top_k,
            with_tags=bool(tag_names),
            with_status=with_status,
            paths=paths,
            media=media,
            width=width,
        )
    raise ValueError(f"unknown output format {fmt!r}; expected one of {FORMATS}")


def result_columns(top_k, tag_names, *, with_status=False):
    """The flat columns of a result row, in order, each with its kind.

    What ``artmedium predict --format csv`` writes and
    :func:`artmedium.dask.predict` returns: ``path``, ``medium``,
    ``probability``; with ``with_status`` (a calibrated model) ``status``,
    ``candidates`` and ``novelty``; ``top1``, ``top1_probability`` ...
    ``top<k>``, ``top<k>_probability``; ``tags``, ``aat_ids``, one
    ``tag:<name>`` per reported tag, and ``error``.

    Parameters
    ----------
    top_k : int
        Media per row.
    tag_names : list of str
        The tags reported.
    with_status : bool, default=False
        The rows have ``status``, ``candidates`` and ``novelty``.

    Returns
    -------
    list of (str, str)
        ``(name, kind)``, kind ``"text"`` or ``"number"``.

    Examples
    --------
    >>> [name for name, _ in result_columns(1, ["paper"])]
    ['path', 'medium', 'probability', 'top1', 'top1_probability', 'tags', \
'aat_ids', 'tag:paper', 'error']
    """
    columns = [("path", "text"), ("medium", "text"), ("probability", "number")]
    if with_status:
        columns += [("status", "text"), ("candidates", "text"), ("novelty", "number")]
    for r in range(1, top_k + 1):
        columns += [(f"top{r}", "text"), (f"top{r}_probability", "number")]
    columns += [("tags", "text"), ("aat_ids", "text")]
    columns += [(f"tag:{t}", "number") for t in tag_names]
    columns.append(("error", "text"))
    return columns


def flat_result(row, top_k, tag_names, *, with_status=False):
    """A result dict as the values of :func:`result_columns`, in their order.

    Lists become text as in the csv: ``candidates`` and ``tags`` joined by
    ``;``, ``aat_ids`` as ``tag=id`` pairs joined by ``;``. A value the row
    lacks (an error row's medium, probability, alternatives and tag
    probabilities) is None. Nothing is escaped or rounded: media are as the
    model names them, numbers as computed.

    Parameters
    ----------
    row : dict
        A result of :class:`~artmedium.inference.BatchPredictor`.
    top_k, tag_names, with_status
        As for :func:`result_columns`.

    Returns
    -------
    list

    Examples
    --------
    >>> row = {"path": "a.jpg", "medium": "Etching on paper", "probability": 0.9,
    ...        "top_k": [{"medium": "Etching on paper", "probability": 0.9}],
    ...        "tags": ["etching", "paper"], "aat_ids": {"etching": 300053241},
    ...        "tag_probabilities": {"paper": 0.99}, "error": ""}
    >>> flat_result(row, 2, ["paper"])
    ['a.jpg', 'Etching on paper', 0.9, 'Etching on paper', 0.9, None, None, \
'etching;paper', 'etching=300053241', 0.99, '']
    """
    values = [row["path"], row["medium"], row["probability"]]
    if with_status:
        values += [
            row.get("status"),
            ";".join(map(str, row.get("candidates") or [])),
            row.get("novelty"),
        ]
    alternatives = row["top_k"]
    for r in range(top_k):
        if r < len(alternatives):
            values += [alternatives[r]["medium"], alternatives[r]["probability"]]
        else:
            values += [None, None]
    values.append(";".join(row["tags"]))
    aat_ids = row.get("aat_ids") or {}
    values.append(";".join(f"{t}={i}" for t, i in aat_ids.items()))
    values += [row["tag_probabilities"].get(t) for t in tag_names]
    values.append(row["error"])
    return values


def _fmt(value, digits):
    return "" if value is None else f"{value:.{digits}f}"


def _not_negative(value):
    """A distance that rounding made a hair below 0 (``-0.000000`` would start
    a formula) is 0."""
    return None if value is None else max(float(value), 0.0)


class CsvWriter:
    """One line per row: top-k media and every tag probability in columns.

    With ``with_status`` (rows of a calibrated model), ``status``,
    ``candidates`` (the set's media joined by ``;``) and ``novelty`` follow
    ``probability``; an error row leaves them empty. ``tags`` (joined by
    ``;``) is followed by ``aat_ids``, the tags' Getty AAT ids as
    ``tag=id`` pairs joined by ``;`` (``etching=300053241;intaglio
    print=300053218``; tags without a verified id are left out).

    Every text cell (header, path, media, tags, error) goes through
    :func:`text_cell`; the numbers, which we write, are never negative.
    Quoting alone would keep a line break inside its cell, but CSV is also read
    on terminals and by line-based tools, and names that are not UTF-8 need an
    escape anyway: one rule for csv and table.
    """

    def __init__(self, stream, k, tag_names, *, with_status=False):
        self.k = k
        self.tag_names = tag_names
        self.with_status = with_status
        # Every cell quoted: a spreadsheet reading with another separator (";" in
        # many locales) then cannot split a name into cells that start a
        # formula (OWASP's CSV injection advice, beside the leading quote).
        self.writer = csv.writer(stream, lineterminator="\n", quoting=csv.QUOTE_ALL)
        self.stream = stream

    def start(self):
        self.columns = result_columns(
            self.k, self.tag_names, with_status=self.with_status
        )
        self.writer.writerow([text_cell(name) for name, _ in self.columns])

    def write(self, rows):
        for row in rows:
            values = flat_result(
                row, self.k, self.tag_names, with_status=self.with_status
            )
            self.writer.writerow(
                [
                    ("" if value is None else text_cell(str(value)))
                    if kind == "text"
                    else _fmt(_not_negative(value), 6)
                    for (_, kind), value in zip(self.columns, values)
                ]
            )

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


def _char_width(char):
    if unicodedata.combining(char) or unicodedata.category(char) in ("Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(text):
    """How many terminal columns ``text`` takes (after :func:`escape_text`).

    Wide East Asian characters take two, combining marks and format characters
    none, everything else one.

    Examples
    --------
    >>> display_width("scan.jpg"), display_width("絵画.jpg"), display_width("e\u0301")
    (8, 8, 1)
    """
    if text.isascii():
        return len(text)
    return sum(map(_char_width, text))


def _cut(text, width, ellipsis, *, keep="start"):
    """``text`` in at most ``width`` columns: its start (or end) and an ellipsis."""
    if display_width(text) <= width:
        return text
    room = width - display_width(ellipsis)
    if room <= 0:
        return ellipsis[: max(width, 0)]
    kept, used = [], 0
    for char in text if keep == "start" else reversed(text):
        used += _char_width(char)
        if used > room:
            break
        kept.append(char)
    if keep == "start":
        return "".join(kept) + ellipsis
    return ellipsis + "".join(reversed(kept))


# Columns of the alternatives worth showing (a short medium whole: "Lithograph
# on paper 0.296, …"), and a comfortable width (one or two media).
_COMFORTABLE_MEDIUM = 36
_MIN_ALTERNATIVES = 28
_ALTERNATIVES = 44
_CANDIDATE_SEPARATOR = " | "


def _pad(text, width):
    return text + " " * (width - display_width(text))


class TableWriter:
    """Aligned columns for people: path, medium, probability, tags, alternatives.

    Column widths are set before the first row from what can appear in them
    (every input path, every medium the model can name and its tags), so rows
    streamed later line up with the first. Given a ``width`` (a terminal's),
    the table fits in it, as ``ls`` and ``git`` fit theirs: a long path loses
    its start (``...ges/N05412_8.jpg``), the tags, then the candidates, then
    the alternatives are left out when there is no room for them, and the
    alternatives are cut to the room left. Without a width every cell is
    written whole. An unreadable input's row shows ``error: <why>`` after its
    path.

    With ``with_status`` (rows of a calibrated model), a ``status`` column
    follows the probability, always shown and never cut, and a
    ``candidates`` column follows it: the media of the row's set, most
    probable first, joined by ``" | "``. A set can hold any of the media, so
    its width comes from the widest medium and the sets of the first rows
    (those given room on a terminal); with a ``width``, a longer set is cut
    between media (``A | B | …``). Without a width it is whole, and only the
    columns after it on that line move.

    Every cell goes through :func:`text_cell` before it is cut, so one row is
    one line, with no control character and no cell a spreadsheet would run;
    a cut cell starts with the ellipsis, never with a formula character.

    Parameters
    ----------
    stream : text file
    top_k : int, default=1
        Media per row: the alternatives column shows the ``top_k - 1`` after
        the first.
    with_tags : bool, default=False
        Show the tags column.
    with_status : bool, default=False
        Show the status and candidates columns (rows with ``status`` and
        ``candidates``).
    paths : iterable of str, optional
        Every path the rows will have; otherwise the first batch sets the width.
    media : dict, optional
        Every medium a row can name -> its tags (``BatchPredictor.implied_tags``).
    width : int, optional
        The terminal's columns: lines stay shorter than this.

    Examples
    --------
    >>> import io
    >>> row = {"path": "scans/a-long-name.jpg", "medium": "Etching on paper",
    ...        "probability": 0.9, "top_k": [], "tags": ["etching"], "error": ""}
    >>> writer = TableWriter(io.StringIO(), width=50)
    >>> writer.write([row]); writer.finish()
    >>> print(writer.stream.getvalue(), end="")
    path                medium            probability
    …s/a-long-name.jpg  Etching on paper  0.900
    """

    def __init__(
        self,
        stream,
        *,
        top_k=1,
        with_tags=False,
        with_status=False,
        paths=None,
        media=None,
        width=None,
    ):
        self.stream = stream
        self.top_k = top_k
        self.with_tags = with_tags
        self.with_status = with_status
        self.paths = None if paths is None else list(paths)
        self.media = {} if media is None else dict(media)
        self.width = width
        try:
            "\u2026".encode(getattr(stream, "encoding", None) or "utf-8")
            self.ellipsis = "\u2026"
        except (LookupError, UnicodeEncodeError):
            self.ellipsis = "..."
        self.columns = None  # [(name, width or None for the last)], set on first rows

    def start(self):
        pass

    def _cells(self, row):
        if row["error"]:
            return {
                "path": text_cell(row["path"]),
                "error": text_cell(f"error: {row['error']}"),
            }
        alternatives = [
            (text_cell(str(a["medium"])), f"{a['probability']:.3f}")
            for a in row["top_k"][1:]
        ]
        status = row.get("status")
        return {
            "path": text_cell(row["path"]),
            "medium": text_cell("" if row["medium"] is None else str(row["medium"])),
            "probability": _fmt(row["probability"], 3),
            "status": "" if status is None else text_cell(str(status)),
            "candidates": [text_cell(str(m)) for m in row.get("candidates") or []],
            "tags": text_cell(", ".join(row["tags"])),
            "alternatives": alternatives,
        }

    def _layout(self, cells):
        """The columns shown and their widths, from all that can appear."""

        def widest(name, texts):
            return max([len(name), *map(display_width, texts)])

        paths = (
            [c["path"] for c in cells]
            if self.paths is None
            else [text_cell(p) for p in self.paths]
        )
        path = widest("path", paths)
        medium = widest(
            "medium",
            [text_cell(str(m)) for m in self.media]
            + [c["medium"] for c in cells if "medium" in c],
        )
        tags = widest(
            "tags",
            [text_cell(", ".join(t)) for t in self.media.values()]
            + [c["tags"] for c in cells if "tags" in c],
        )
        # A set can hold any of the media: at least as wide as one alone, and
        # as the sets of the first rows where there is room.
        candidates = widest("candidates", [text_cell(str(m)) for m in self.media])
        sets = [
            _CANDIDATE_SEPARATOR.join(c["candidates"]) for c in cells if "medium" in c
        ]
        wanted = max(candidates, widest("candidates", sets))
        status = widest("status", STATUSES)  # as wide as the widest status
        # The status is never left out: its columns (and a gap) count as fixed.
        fixed = 2 + status if self.with_status else 0
        probability = len("probability")
        with_tags = self.with_tags
        with_candidates = self.with_status
        with_alternatives = self.top_k > 1
        alternatives = None
        if self.width is not None:
            limit = self.width - 1
            # Always the path (at least its last 16 columns: a file name), the
            # medium, its probability and the status; the medium is cut only on
            # a narrow terminal.
            least = min(path, 16)
            # A model of many media (a tagger's combinations) can name some at
            # great length: the column is as wide as the first rows' media, or
            # a comfortable width, and a rare longer one is cut.
            seen = widest("medium", [c["medium"] for c in cells if "medium" in c])
            medium = min(medium, max(seen, _COMFORTABLE_MEDIUM))
            candidates = min(candidates, medium)
            medium = max(min(medium, limit - least - 4 - probability - fixed), 6)
            room = limit - medium - probability - 4 - fixed  # path and extras
            # The path keeps half of that room when the extras want it. They
            # come in order of use: the alternatives (the runner-up, news), the
            # candidates (the medium again when the answer is sure), then the
            # tags (the medium's own, a repetition).
            share = min(path, max(least, room // 2))
            room -= share
            with_alternatives = with_alternatives and room >= 2 + _MIN_ALTERNATIVES
            if with_alternatives:
                room -= 2 + _MIN_ALTERNATIVES
            with_candidates = with_candidates and room >= 2 + candidates
            if with_candidates:
                room -= 2 + candidates
            with_tags = with_tags and room >= 2 + tags
            if with_tags:
                room -= 2 + tags
            # What is left: the sets of the first rows whole, a comfortable
            # width for the alternatives, then the rest of the path, then all
            # the rest to the last column.
            alternatives = _MIN_ALTERNATIVES
            if with_candidates:  # whole sets first: they are the answer's doubt
                more = max(min(room, wanted - candidates), 0)
                candidates += more
                room -= more
            if with_alternatives:
                more = max(min(room, _ALTERNATIVES - _MIN_ALTERNATIVES), 0)
                alternatives += more
                room -= more
            path = min(path, share + max(room, 0))
            room -= path - share
            if with_alternatives:
                alternatives += max(room, 0)
            elif with_candidates and not with_tags:
                candidates += max(room, 0)
        else:
            candidates = wanted
        columns = [("path", path), ("medium", medium), ("probability", probability)]
        if self.with_status:
            columns.append(("status", status))
        if with_candidates:
            columns.append(("candidates", candidates))
        if with_tags:
            columns.append(("tags", tags))
        if with_alternatives:
            columns.append(("alternatives", alternatives))
        return columns

    def write(self, rows):
        cells = [self._cells(r) for r in rows]
        if self.columns is None:
            self.columns = self._layout(cells)
            self._line({name: name for name, _ in self.columns})
        for c in cells:
            self._line(c)

    def _line(self, cells):
        parts = []
        last = len(self.columns) - 1
        for i, (name, width) in enumerate(self.columns):
            if name == "medium" and "error" in cells:
                parts.append(cells["error"])  # the rest of the line
                break
            text = cells[name]
            if not isinstance(text, str):  # a list: candidates or alternatives
                if name == "candidates":
                    text = self._candidates(text, width)
                else:
                    text = self._alternatives(text, width)
            elif self.width is not None and i < last:
                keep = "end" if name == "path" else "start"
                text = _cut(text, width, self.ellipsis, keep=keep)
            parts.append(text if i == last else _pad(text, width))
        line = "  ".join(parts).rstrip()
        if self.width is not None:
            line = _cut(line, self.width - 1, self.ellipsis)
        self.stream.write(line + "\n")

    def _alternatives(self, items, width):
        """As many whole alternatives as fit, then an ellipsis for the rest.

        When not even one fits, its medium is cut, never its probability.
        """
        texts = [f"{medium} {probability}" for medium, probability in items]
        if self.width is None or display_width(", ".join(texts)) <= width:
            return ", ".join(texts)
        for n in range(len(texts) - 1, 0, -1):
            text = ", ".join([*texts[:n], self.ellipsis])
            if display_width(text) <= width:
                return text
        medium, probability = items[0]
        tail = f" {probability}" + (f", {self.ellipsis}" if len(items) > 1 else "")
        return _cut(medium, width - display_width(tail), self.ellipsis) + tail

    def _candidates(self, media, width):
        """As many whole media as fit in ``width``, then an ellipsis.

        When not even one fits with it, the first medium is cut.
        """
        text = _CANDIDATE_SEPARATOR.join(media)
        if self.width is None or display_width(text) <= width:
            return text
        for n in range(len(media) - 1, 0, -1):
            text = _CANDIDATE_SEPARATOR.join([*media[:n], self.ellipsis])
            if display_width(text) <= width:
                return text
        tail = _CANDIDATE_SEPARATOR + self.ellipsis if len(media) > 1 else ""
        return _cut(media[0], width - display_width(tail), self.ellipsis) + tail

    def finish(self):
        if self.columns is None:
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


def _keep_mode(path, tmp):
    """Give ``tmp`` the permissions of the file it replaces (a 0600 file stays
    0600); a new file keeps the umask's."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    os.chmod(tmp, mode)


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
            _keep_mode(self.path, self.tmp)
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

"""The writers of ``artmedium predict``: safe cells, lossless names, atomic files."""

import csv
import errno
import io
import json
import os
import re
import socket
import stat
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from artmedium import _writers
from artmedium._writers import (
    AtomicOutput,
    CsvWriter,
    JsonLinesWriter,
    JsonWriter,
    NotRegularFileError,
    TableWriter,
    display_width,
    escape_text,
    json_text,
    neutralise_formula,
    text_cell,
)

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ESCAPE = re.compile(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|[\\nrt])")


def unescape(cell):
    """The text a CSV or table cell stands for: the inverse of ``text_cell``."""
    if cell.startswith("'"):
        cell = cell[1:]

    def one(match):
        code = match.group(1)
        if code[0] == "x":
            byte = int(code[1:], 16)
            # Bytes >= 0x80 are the undecodable ones, kept as os.fsdecode keeps them.
            return chr(byte) if byte < 0x80 else chr(0xDC00 + byte)
        if code[0] == "u":
            return chr(int(code[1:], 16))
        return {"\\": "\\", "n": "\n", "r": "\r", "t": "\t"}[code]

    return _ESCAPE.sub(one, cell)


def is_unsafe_char(char):
    """A character that may not reach a terminal or split a line."""
    return unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or char in (
        "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    )


# ------------------------------------------------------------------ the rules


@pytest.mark.parametrize(
    "text, expected",
    [
        ("plain/name.jpg", "plain/name.jpg"),
        ("Œuvre é.png", "Œuvre é.png"),
        ("\x1b[31mred.png", "\\x1b[31mred.png"),
        ("two\nlines\r\tx", "two\\nlines\\r\\tx"),
        ("nul\x00del\x7f", "nul\\x00del\\x7f"),
        ("csi\x9bc1\x85", "csi\\u009bc1\\u0085"),
        ("sep\u2028par\u2029", "sep\\u2028par\\u2029"),
        ("rlo\u202egnp.exe", "rlo\\u202egnp.exe"),
        (os.fsdecode(b"\xff\xfe.png"), "\\xff\\xfe.png"),
        ("\ud800lone", "\\ud800lone"),
        ("back\\slash", "back\\\\slash"),
    ],
)
def test_escape_text(text, expected):
    assert escape_text(text) == expected
    assert unescape(expected) == text


@pytest.mark.parametrize(
    "cell, expected",
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        # A leading quote is doubled, so that dropping one quote undoes the rule.
        ("'quoted", "''quoted"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_neutralise_formula(cell, expected):
    assert neutralise_formula(cell) == expected


def test_text_cell_escapes_before_it_neutralises():
    # A tab or CR at the start becomes an escape: no formula character is left.
    assert text_cell("\t=x") == "\\t=x"
    assert text_cell("=\x1b") == "'=\\x1b"


def test_json_text_is_valid_utf8_and_keeps_names_exactly():
    name = os.fsdecode(b"/scans/\xff\x1b\xc2\x85\xe2\x80\xa8caf\xc3\xa9.png")
    text = json_text({"path": name})
    assert "\x85" not in text and "\u2028" not in text and "\x1b" not in text
    assert "café" in text  # readable non-ASCII text stays as it is
    back = json.loads(text.encode("utf-8").decode("utf-8"))["path"]
    assert os.fsencode(back) == b"/scans/\xff\x1b\xc2\x85\xe2\x80\xa8caf\xc3\xa9.png"


# ------------------------------------------------------------------ properties

SPECIAL = "=+-@'\\\t\r\n\x00\x1b\x7f\x85\x9b\u2028\u2029\u202e\ud800\udcff"
ALPHABET = st.one_of(
    st.characters(),
    st.characters(codec=None, categories=["Cc", "Cf", "Cs", "Zl", "Zp", "Zs"]),
    st.sampled_from(SPECIAL),
)
TEXT = st.text(ALPHABET, max_size=12)
PROBABILITY = st.floats(0, 1)
TAG_NAMES = st.lists(TEXT, max_size=3, unique=True)


@st.composite
def rows_and_tags(draw):
    """Prediction rows as BatchPredictor makes them, with hostile text anywhere."""
    tag_names = draw(TAG_NAMES)
    k = draw(st.integers(1, 3))
    rows = []
    for _ in range(draw(st.integers(0, 4))):
        error = draw(st.one_of(st.just(""), TEXT))
        if error:
            medium, probability, top_k = None, None, []
            tags, tag_probabilities, aat_ids = [], {}, {}
        else:
            top_k = [
                {"medium": draw(TEXT), "probability": draw(PROBABILITY)}
                for _ in range(draw(st.integers(1, k)))
            ]
            medium, probability = top_k[0]["medium"], top_k[0]["probability"]
            tag_probabilities = {t: draw(PROBABILITY) for t in tag_names}
            tags = [t for t, p in tag_probabilities.items() if p >= 0.5]
            aat_ids = {t: draw(TEXT) for t in tags if draw(st.booleans())}
        rows.append(
            {
                "path": draw(TEXT),
                "medium": medium,
                "probability": probability,
                "top_k": top_k,
                "tags": tags,
                "aat_ids": aat_ids,
                "tag_probabilities": tag_probabilities,
                "error": error,
            }
        )
    return rows, k, tag_names


def run_writer(writer, rows):
    writer.start()
    # Two batches, as predict streams them.
    writer.write(rows[:1])
    writer.write(rows[1:])
    writer.finish()
    return writer.stream.getvalue()


@settings(max_examples=150, deadline=None)
@given(rows_and_tags())
def test_csv_cells_are_safe_and_give_the_names_back(case):
    rows, k, tag_names = case
    text = run_writer(CsvWriter(io.StringIO(), k, tag_names), rows)
    text.encode("utf-8")
    assert not any(is_unsafe_char(c) for c in text.replace("\n", ""))
    table = list(csv.reader(io.StringIO(text)))
    header = table[0]
    assert len(table) == len(rows) + 1
    assert all(len(line) == len(header) for line in table)
    for line in table:
        assert not any(cell.startswith(FORMULA_START) for cell in line)
    for line, row in zip(table[1:], rows):
        cells = dict(zip(header, line))
        assert unescape(cells["path"]) == row["path"]
        assert unescape(cells["medium"]) == (row["medium"] or "")
        assert unescape(cells["error"]) == row["error"]
        assert unescape(cells["tags"]) == ";".join(row["tags"])
        pairs = ";".join(f"{t}={i}" for t, i in row["aat_ids"].items())
        assert unescape(cells["aat_ids"]) == pairs


@settings(max_examples=150, deadline=None)
@given(rows_and_tags(), st.booleans())
def test_every_table_row_is_one_safe_line(case, with_tags):
    rows, _, tag_names = case
    writer = TableWriter(io.StringIO(), with_tags=with_tags and bool(tag_names))
    text = run_writer(writer, rows)
    text.encode("utf-8")
    lines = text.split("\n")
    assert lines[-1] == ""
    assert len(lines) == len(rows) + 2
    assert text.splitlines() == lines[:-1]
    for line, row in zip(lines[1:], rows):
        assert not any(is_unsafe_char(c) for c in line)
        assert not line.startswith(FORMULA_START)
        assert line.startswith(text_cell(row["path"]))


@settings(max_examples=150, deadline=None)
@given(rows_and_tags())
def test_json_lines_parse_back_to_the_rows(case):
    rows, _, _ = case
    text = run_writer(JsonLinesWriter(io.StringIO()), rows)
    text.encode("utf-8")
    assert not any(is_unsafe_char(c) for c in text.replace("\n", ""))
    lines = text.splitlines()
    assert len(lines) == len(rows)
    assert [json.loads(line) for line in lines] == rows
    text = run_writer(JsonWriter(io.StringIO()), rows)
    assert json.loads(text.encode("utf-8")) == rows


# ------------------------------------------------------------------ AtomicOutput


def make_special(kind, path, tmp_path):
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink to /dev/null":
        path.symlink_to(os.devnull)
    elif kind == "symlink to a file":
        (tmp_path / "real.txt").write_text("precious")
        path.symlink_to(tmp_path / "real.txt")
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()


@pytest.mark.parametrize(
    "kind", ["fifo", "symlink to /dev/null", "symlink to a file", "socket"]
)
def test_atomic_output_replaces_only_regular_files(tmp_path, kind):
    path = tmp_path / "out.csv"
    if kind == "socket" and len(os.fsencode(path)) > 100:
        pytest.skip("temporary path too long for a Unix socket")
    make_special(kind, path, tmp_path)
    before = os.lstat(path)
    with pytest.raises(NotRegularFileError, match="not a regular file") as info:
        AtomicOutput(path, overwrite=True)
    assert str(path) in str(info.value)
    after = os.lstat(path)
    assert (after.st_ino, stat.S_IFMT(after.st_mode)) == (
        before.st_ino,
        stat.S_IFMT(before.st_mode),
    )
    assert sorted(p.name for p in tmp_path.iterdir() if ".part" in p.name) == []


def test_atomic_output_checks_again_at_commit(tmp_path):
    path = tmp_path / "out.csv"
    sink = AtomicOutput(path, overwrite=True)
    sink.stream.write("new")
    os.mkfifo(path)  # appears while the output is being written
    with pytest.raises(NotRegularFileError):
        sink.commit()
    assert stat.S_ISFIFO(os.lstat(path).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


class FullDisk(io.FileIO):
    """A file on a disk with room for ``capacity`` bytes; then ENOSPC."""

    capacity = 0

    def write(self, data):
        room = FullDisk.capacity
        if len(data) > room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        FullDisk.capacity -= len(data)
        return super().write(data)


def open_on_full_disk(capacity, *, buffer_size=io.DEFAULT_BUFFER_SIZE):
    """An ``open`` for ``_writers`` whose files fill up after ``capacity`` bytes."""

    def fake_open(path, mode, *, encoding, newline):
        FullDisk.capacity = capacity
        raw = FullDisk(path, mode)
        return io.TextIOWrapper(
            io.BufferedWriter(raw, buffer_size=buffer_size),
            encoding=encoding,
            newline=newline,
            write_through=buffer_size < io.DEFAULT_BUFFER_SIZE,
        )

    return fake_open


@pytest.mark.parametrize("failing", ["flush", "fsync", "replace"])
def test_a_failed_commit_removes_the_temporary_file(tmp_path, monkeypatch, failing):
    path = tmp_path / "out.csv"
    path.write_bytes(b"precious")

    def no_space(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if failing == "flush":
        monkeypatch.setattr(_writers, "open", open_on_full_disk(0), raising=False)
    else:
        monkeypatch.setattr(os, failing, no_space)
    sink = AtomicOutput(path, overwrite=True)
    sink.stream.write("new content")
    with pytest.raises(OSError, match="No space left"):
        sink.commit()
    monkeypatch.undo()
    sink.abort()  # harmless after a failed commit
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    assert path.read_bytes() == b"precious"


def test_abort_after_a_failed_write_never_raises(tmp_path, monkeypatch):
    monkeypatch.setattr(
        _writers, "open", open_on_full_disk(0, buffer_size=8), raising=False
    )
    sink = AtomicOutput(tmp_path / "out.csv", overwrite=False)
    with pytest.raises(OSError):
        sink.stream.write("more than eight bytes")
    sink.abort()
    assert list(tmp_path.iterdir()) == []


def test_commit_is_final(tmp_path):
    path = tmp_path / "out.csv"
    with AtomicOutput(path, overwrite=False) as sink:
        sink.stream.write("done")
        sink.commit()
    sink.abort()
    assert path.read_text() == "done"
    with pytest.raises(RuntimeError), AtomicOutput(path, overwrite=True) as sink:
        sink.stream.write("never")
        raise RuntimeError
    assert path.read_text() == "done"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


# ------------------------------------------------------------------ the table's face


def table_row(path, medium="Etching on paper", probability=0.9, alternatives=(),
              tags=("etching",), error=""):  # fmt: skip
    top_k = [{"medium": medium, "probability": probability}]
    top_k += [{"medium": m, "probability": p} for m, p in alternatives]
    if error:
        medium, probability, top_k, tags = None, None, [], ()
    return {"path": path, "medium": medium, "probability": probability,
            "top_k": top_k, "tags": list(tags), "tag_probabilities": {},
            "error": error}  # fmt: skip


MEDIA = {
    "Etching on paper": ["etching"],
    "Graphite and watercolour on paper": ["graphite", "watercolour"],
    "Oil paint on canvas": ["oil paint", "canvas"],
}
LONG_PATH = "/home/someone/Pictures/museum visit 2024/tate britain/N05412_8.jpg"


def column_of(line, text):
    """The terminal column where ``text`` starts in ``line``."""
    return display_width(line[: line.index(text)])


def test_columns_line_up_across_batches(tmp_path):
    """Issue #13: widths came from the first batch, so later rows misaligned."""
    first = [table_row("a.jpg")]
    later = [
        table_row(
            "a-much-longer-name.jpg",
            "Graphite and watercolour on paper",
            tags=["graphite", "watercolour"],
        ),
        table_row("b.jpg", error="not an image"),
    ]
    writer = TableWriter(io.StringIO(), top_k=1, with_tags=True,
                         paths=["a.jpg", "a-much-longer-name.jpg", "b.jpg"],
                         media=MEDIA)  # fmt: skip
    writer.write(first)
    writer.write(later)
    writer.finish()
    header, *lines = writer.stream.getvalue().splitlines()
    medium, probability = column_of(header, "medium"), column_of(header, "prob")
    assert column_of(lines[0], "Etching") == column_of(lines[1], "Graphite") == medium
    assert column_of(lines[0], "0.900") == column_of(lines[1], "0.900") == probability
    assert column_of(lines[2], "error: not an image") == medium


@pytest.mark.parametrize("width", [40, 60, 80, 100, 160, 200])
def test_a_table_for_a_terminal_fits_its_width(width):
    alternatives = [("Oil paint on canvas", 0.05), ("Graphite on paper", 0.03)]
    rows = [
        table_row(LONG_PATH, alternatives=alternatives),
        table_row("short.jpg", "Graphite and watercolour on paper", 0.5,
                  alternatives, ["graphite", "watercolour"]),
        table_row(LONG_PATH.replace("N05412", "T0"), error="not an image " * 9),
    ]  # fmt: skip
    paths = [r["path"] for r in rows]
    writer = TableWriter(io.StringIO(), top_k=3, with_tags=True, paths=paths,
                         media=MEDIA, width=width)  # fmt: skip
    writer.write(rows[:1])
    writer.write(rows[1:])
    header, *lines = writer.stream.getvalue().splitlines()
    assert len(lines) == 3
    for line in [header, *lines]:
        assert display_width(line) <= width - 1, line
    # A long path keeps its end, the part that tells files apart.
    assert lines[0].startswith("\u2026") == (width < 200)
    assert "N05412_8.jpg" in lines[0]
    assert header.split()[:3] == ["path", "medium", "probability"]
    assert "0.900" in lines[0] and "0.500" in lines[1]
    # The alternatives when they fit whole enough, else the tags if they fit.
    assert ("alternatives" in header) == (width >= 160)
    assert ("Oil paint on canvas 0.050" in lines[0]) == (width >= 160)
    assert ("tags" in header) == (width >= 100)
    # The error, cut at the edge if it must be.
    assert lines[2].endswith("\u2026") == (width < 200)


def test_without_a_width_every_cell_is_whole():
    row = table_row(LONG_PATH, alternatives=[("Oil paint on canvas", 0.05)])
    writer = TableWriter(io.StringIO(), top_k=2, with_tags=True, media=MEDIA)
    writer.write([row])
    _, line = writer.stream.getvalue().splitlines()
    assert line.startswith(LONG_PATH)
    assert line.endswith("Oil paint on canvas 0.050")
    assert "etching" in line


def test_cut_cells_stay_safe_and_wide_characters_count_twice():
    # Escaped and neutralised first, then cut: the escapes stay whole in what
    # is kept, and a cut cell starts with the ellipsis, never a formula.
    names = ["=HYPERLINK(1)" + "x" * 60 + ".png", "\x1b[31m" + "絵" * 40 + ".png"]
    writer = TableWriter(io.StringIO(), paths=names, media=MEDIA, width=60)
    writer.write([table_row(n) for n in names])
    header, *lines = writer.stream.getvalue().splitlines()
    for line in lines:
        assert display_width(line) <= 59
        assert not any(is_unsafe_char(c) for c in line)
        assert not line.startswith(FORMULA_START)
        assert line.startswith("\u2026")
    assert lines[1].split()[0].endswith("絵.png")
    assert column_of(lines[0], "Etching") == column_of(lines[1], "Etching")


def test_the_ellipsis_falls_back_to_dots_where_it_cannot_be_encoded():
    stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    writer = TableWriter(stream, paths=[LONG_PATH], width=50)
    writer.write([table_row(LONG_PATH)])
    stream.flush()
    assert stream.buffer.getvalue().splitlines()[1].startswith(b"...")


@settings(max_examples=150, deadline=None)
@given(rows_and_tags(), st.integers(1, 200))
def test_every_table_row_fits_a_terminal_on_one_safe_line(case, width):
    rows, k, tag_names = case
    writer = TableWriter(io.StringIO(), top_k=k, with_tags=bool(tag_names),
                         paths=[r["path"] for r in rows], width=width)  # fmt: skip
    text = run_writer(writer, rows)
    lines = text.split("\n")
    assert len(lines) == len(rows) + 2 and lines[-1] == ""
    for line in lines[:-1]:
        assert display_width(line) <= max(width - 1, 0)
        assert not any(is_unsafe_char(c) for c in line)
        assert not line.startswith(FORMULA_START)


def test_alternatives_are_cut_between_media_not_inside_one():
    def line(width, alternatives):
        writer = TableWriter(io.StringIO(), top_k=3, paths=["a.jpg"], media=MEDIA,
                             width=width)  # fmt: skip
        writer.write([table_row("a.jpg", alternatives=alternatives)])
        return writer.stream.getvalue().splitlines()[1]

    oil, graphite = ("Oil paint on canvas", 0.05), ("Graphite on paper", 0.03)
    assert line(80, [oil, graphite]).endswith("0.900")  # no room worth it
    assert line(84, [oil, graphite]).endswith("  Oil paint on canvas 0.050, \u2026")
    whole = "  Oil paint on canvas 0.050, Graphite on paper 0.030"
    assert line(110, [oil, graphite]).endswith(whole)
    assert line(200, [oil, graphite]) == line(110, [oil, graphite])
    # Not even one fits: its name is cut, never its probability.
    both = ("Graphite and watercolour on paper", 0.05)
    assert line(84, [both, oil]).endswith("  Graphite and water\u2026 0.050, \u2026")


def test_csv_cells_are_all_quoted_so_no_separator_splits_them():
    """Review finding: 'x;=cmd|...' read with ';' as separator gave a formula."""
    import csv as csv_module

    out = io.StringIO()
    writer = CsvWriter(out, 1, [])
    writer.start()
    name = "x;=cmd|' calc'!A0;.jpg"
    writer.write([table_row(name, medium="a;+b"), table_row("ok.png")])
    writer.finish()
    text = out.getvalue()
    assert len(text.splitlines()) == 3
    for line in text.splitlines():
        assert line.startswith('"') and line.endswith('"')
    for row in csv_module.reader(io.StringIO(text), delimiter=";"):
        assert not any(cell.lstrip('"').startswith("=") for cell in row)


def test_replacing_an_output_keeps_its_permissions(tmp_path):
    target = tmp_path / "media.csv"
    target.write_text("old\n")
    target.chmod(0o600)
    out = AtomicOutput(target, overwrite=True)
    out.stream.write("new\n")
    out.commit()
    assert target.read_text() == "new\n"
    assert (target.stat().st_mode & 0o777) == 0o600


# ------------------------------------------------------------------ status columns


def status_row(path, status, candidates, medium=None, probability=0.9,
               novelty=0.0123456789, alternatives=()):  # fmt: skip
    """A calibrated model's row: ``table_row`` with status, candidates, novelty."""
    medium = medium or (candidates[0] if candidates else "Etching on paper")
    row = table_row(path, medium, probability, alternatives, MEDIA.get(medium, []))
    return {**row, "status": status, "candidates": list(candidates),
            "novelty": novelty}  # fmt: skip


def status_error_row(path, error="not an image"):
    return {**table_row(path, error=error), "status": None, "candidates": [],
            "novelty": None}  # fmt: skip


ETCHING, GRAPHITE, OIL = (
    "Etching on paper",
    "Graphite and watercolour on paper",
    ("Oil paint on canvas"),
)


def test_csv_with_status_has_status_candidates_and_novelty_after_probability():
    rows = [
        status_row("a.jpg", "ok", [ETCHING]),
        status_row("b.jpg", "uncertain", [GRAPHITE, "=evil;medium"], novelty=-1e-9),
        status_row("c.jpg", "unknown", []),
        status_error_row("d.jpg"),
    ]
    text = run_writer(CsvWriter(io.StringIO(), 1, ["etching"], with_status=True), rows)
    header, *lines = list(csv.reader(io.StringIO(text)))
    assert header[:7] == ["path", "medium", "probability", "status", "candidates",
                          "novelty", "top1"]  # fmt: skip
    cells = [dict(zip(header, line)) for line in lines]
    assert [c["status"] for c in cells] == ["ok", "uncertain", "unknown", ""]
    assert cells[0]["candidates"] == ETCHING
    # Members joined by ";", each through text_cell; nothing starts a formula.
    assert cells[1]["candidates"] == f"{GRAPHITE};=evil;medium"
    assert cells[1]["candidates"] == text_cell(f"{GRAPHITE};=evil;medium")
    assert cells[2]["candidates"] == "" and cells[3]["candidates"] == ""
    assert cells[0]["novelty"] == "0.012346"
    assert cells[1]["novelty"] == "0.000000"  # never "-0.000000", a formula
    assert cells[3]["novelty"] == "" and cells[3]["error"] == "not an image"
    for line in lines:
        assert len(line) == len(header)
        assert not any(cell.startswith(FORMULA_START) for cell in line)
    # Without with_status, the columns of an uncalibrated model, unchanged.
    plain = run_writer(CsvWriter(io.StringIO(), 1, ["etching"]), rows[:1])
    assert "status" not in plain.splitlines()[0]


def test_a_candidate_that_looks_like_a_formula_is_neutralised_in_csv():
    rows = [status_row("a.jpg", "uncertain", ["=cmd|'/c calc'!A0", ETCHING])]
    text = run_writer(CsvWriter(io.StringIO(), 1, [], with_status=True), rows)
    _, line = list(csv.reader(io.StringIO(text)))
    assert "'=cmd|'/c calc'!A0;Etching on paper" in line


def status_table(rows, width=None, top_k=2, with_tags=True):
    writer = TableWriter(io.StringIO(), top_k=top_k, with_tags=with_tags,
                         with_status=True, paths=[r["path"] for r in rows],
                         media=MEDIA, width=width)  # fmt: skip
    writer.write(rows[:2])
    writer.write(rows[2:])
    writer.finish()
    return writer.stream.getvalue().splitlines()


STATUS_ROWS = [
    status_row("a.jpg", "ok", [ETCHING], alternatives=[(OIL, 0.05)]),
    status_row(
        "b.jpg",
        "uncertain",
        [GRAPHITE, ETCHING],
        probability=0.5,
        alternatives=[(ETCHING, 0.4)],
    ),  # fmt: skip
    status_error_row("c.jpg", "not an image"),
    status_row("d.jpg", "unknown", [], medium=OIL, alternatives=[(ETCHING, 0.1)]),
]


def test_the_table_shows_status_then_candidates_after_probability():
    header, *lines = status_table(STATUS_ROWS)
    assert header.split() == ["path", "medium", "probability", "status",
                              "candidates", "tags", "alternatives"]  # fmt: skip
    status, candidates = column_of(header, "status"), column_of(header, "candidates")
    assert column_of(lines[0], "ok") == status
    assert column_of(lines[1], "uncertain") == status
    assert column_of(lines[3], "unknown") == status
    assert lines[1][candidates:].startswith(f"{GRAPHITE} | {ETCHING}  ")
    assert lines[0][candidates:].startswith(f"{ETCHING}  ")
    # Columns after the candidates still line up (the widest set came first).
    tags = column_of(header, "tags")
    assert column_of(lines[0], "etching") == column_of(lines[1], "graphite") == tags
    # An error row is as before: its path, then why, from the medium column on.
    assert lines[2] == "c.jpg  error: not an image"
    assert column_of(lines[2], "error") == column_of(header, "medium")


def test_a_wide_terminal_shows_status_and_candidates_and_fits():
    header, *lines = status_table(STATUS_ROWS, width=200)
    assert header.split()[3:5] == ["status", "candidates"]
    assert "tags" in header and "alternatives" in header
    assert all(display_width(line) <= 199 for line in [header, *lines])
    assert f"{GRAPHITE} | {ETCHING}" in lines[1]


@pytest.mark.parametrize("width", [60, 80, 100])
def test_a_narrow_terminal_drops_the_candidates_but_keeps_the_status(width):
    rows = [{**r, "path": LONG_PATH.replace("N05412", str(i))}
            for i, r in enumerate(STATUS_ROWS)]  # fmt: skip
    header, *lines = status_table(rows, width=width)
    assert all(display_width(line) <= width - 1 for line in [header, *lines])
    assert "candidates" not in header and "tags" not in header
    assert header.split()[1:4] == ["medium", "probability", "status"]
    status = column_of(header, "status")
    for line, row in zip(lines, rows):
        if row["status"] is not None:  # whole, never cut
            assert line[status:].split()[0] == row["status"]


def test_the_candidates_come_before_the_tags_when_room_is_short():
    # Room for the alternatives and the candidates, not for the tags too.
    header, _, _ = status_table(STATUS_ROWS[:2], width=150)
    assert "alternatives" in header and "candidates" in header
    assert "tags" not in header


def test_a_later_larger_set_is_cut_between_media_on_a_terminal():
    rows = [
        status_row("a.jpg", "ok", [ETCHING]),
        status_row("b.jpg", "ok", [OIL]),
        status_row("c.jpg", "uncertain", [OIL, ETCHING, GRAPHITE]),
    ]
    # Room for the widest medium alone (the first rows' sets are single).
    header, *lines = status_table(rows, width=100, top_k=1, with_tags=False)
    candidates = column_of(header, "candidates")
    assert display_width(lines[2]) <= 99
    assert lines[2][candidates:] == f"{OIL} | \u2026"
    # No room for even one with the ellipsis: the medium is cut, not the sign.
    rows[2]["candidates"] = [GRAPHITE, OIL]
    _, _, _, line = status_table(rows, width=100, top_k=1, with_tags=False)
    assert line[candidates:].endswith("\u2026 | \u2026")
    assert display_width(line) <= 99
    # Without a width the set is whole.
    rows[2]["candidates"] = [OIL, ETCHING, GRAPHITE]
    header, *lines = status_table(rows, top_k=1, with_tags=False)
    assert lines[2].endswith(f"{OIL} | {ETCHING} | {GRAPHITE}")


@st.composite
def status_rows_and_tags(draw):
    """Rows of a calibrated model: any status, any hostile candidates."""
    rows, k, tag_names = draw(rows_and_tags())
    for row in rows:
        if row["error"]:
            row.update(status=None, candidates=[], novelty=None)
        else:
            row.update(
                status=draw(st.sampled_from(["ok", "uncertain", "unknown"])),
                candidates=draw(st.lists(TEXT, max_size=3)),
                novelty=draw(st.floats(0, 2)),
            )
    return rows, k, tag_names


@settings(max_examples=100, deadline=None)
@given(status_rows_and_tags(), st.one_of(st.none(), st.integers(1, 200)))
def test_every_status_row_is_one_safe_line_that_fits(case, width):
    rows, k, tag_names = case
    writer = TableWriter(io.StringIO(), top_k=k, with_tags=bool(tag_names),
                         with_status=True, paths=[r["path"] for r in rows],
                         width=width)  # fmt: skip
    lines = run_writer(writer, rows).split("\n")
    assert len(lines) == len(rows) + 2 and lines[-1] == ""
    for line in lines[:-1]:
        if width is not None:
            assert display_width(line) <= max(width - 1, 0)
        assert not any(is_unsafe_char(c) for c in line)
        assert not line.startswith(FORMULA_START)
    text = run_writer(CsvWriter(io.StringIO(), k, tag_names, with_status=True), rows)
    table = list(csv.reader(io.StringIO(text)))
    for line, row in zip(table[1:], rows):
        cells = dict(zip(table[0], line))
        assert unescape(cells["candidates"]) == ";".join(row["candidates"])
        assert not any(cell.startswith(FORMULA_START) for cell in line)


# ------------------------------------------------------------------ AAT ids


def test_csv_writes_the_aat_ids_after_the_tags():
    ids = {"etching": "300053241", "intaglio print": "300053218"}
    row = {**table_row("a.jpg", tags=list(ids)), "aat_ids": ids}
    hostile = {**table_row("b.jpg", tags=["=evil"]), "aat_ids": {"=evil": "1\n2"}}
    old = table_row("c.jpg")  # a row from before AAT ids: an empty cell
    text = run_writer(CsvWriter(io.StringIO(), 1, ["etching"]), [row, hostile, old])
    header, *lines = list(csv.reader(io.StringIO(text)))
    assert header[header.index("tags") + 1] == "aat_ids"
    cells = [dict(zip(header, line)) for line in lines]
    assert cells[0]["aat_ids"] == "etching=300053241;intaglio print=300053218"
    assert cells[1]["aat_ids"] == "'=evil=1\\n2"
    assert cells[2]["aat_ids"] == ""


def test_json_rows_keep_the_aat_ids():
    row = {**table_row("a.jpg", tags=["etching"]), "aat_ids": {"etching": "300053241"}}
    (line,) = run_writer(JsonLinesWriter(io.StringIO()), [row]).splitlines()
    assert json.loads(line)["aat_ids"] == {"etching": "300053241"}


def test_a_model_of_very_long_media_names_keeps_room_on_a_terminal():
    """A tagger can name some of its hundreds of combinations at great length:
    on a terminal the medium column is as wide as the first rows need (or a
    comfortable width), the candidates fit, and a later long name is cut."""
    long_name = (
        "Graphite, ink, watercolour, gouache, chalk and pastel on paper on board"
    )
    media = {**MEDIA, long_name: []}
    rows = [
        status_row("a.jpg", "ok", [ETCHING], alternatives=[(OIL, 0.05)]),
        status_row("b.jpg", "uncertain", [OIL, ETCHING], medium=OIL),
        status_row("c.jpg", "uncertain", [long_name], medium=long_name),
    ]
    writer = TableWriter(io.StringIO(), top_k=2, with_tags=True, with_status=True,
                         paths=[r["path"] for r in rows], media=media,
                         width=140)  # fmt: skip
    writer.write(rows[:2])
    writer.write(rows[2:])
    writer.finish()
    header, *lines = writer.stream.getvalue().splitlines()
    assert "candidates" in header
    medium_width = column_of(header, "probability") - column_of(header, "medium") - 2
    assert medium_width < len(long_name)
    assert all(display_width(line) <= 139 for line in [header, *lines])
    assert long_name not in lines[2] and "…" in lines[2]
    # Without a terminal every cell is whole.
    writer = TableWriter(io.StringIO(), top_k=2, with_status=True, media=media)
    writer.write(rows)
    writer.finish()
    assert long_name in writer.stream.getvalue()

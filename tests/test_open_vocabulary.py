"""Open vocabularies: broader terms, exclusive groups, the catalogue's wording,
unknown terms reported (never dropped), AAT ids and load_tate(vocabulary="learned")."""

import csv
import json
import re
import warnings
from collections import Counter
from importlib import resources

import numpy as np
import pytest
from PIL import Image

from artmedium.datasets import load_tate
from artmedium.vocabulary import (
    BROADER,
    OPEN_MIN_COUNT,
    POSTER_TAGS,
    Vocabulary,
    aat_term,
    build_vocabulary,
    medium_to_tags,
    tag_matrix,
    tags_to_medium,
    unknown_terms,
)

PRINTS = Vocabulary(
    [
        "etching",
        "aquatint",
        "line engraving",
        "engraving",
        "lithograph",
        "intaglio print",
        "print",
        "canvas",
        "board",
    ],
    supports=["canvas", "board"],
    broader={
        "etching": "intaglio print",
        "aquatint": "intaglio print",
        "line engraving": "engraving",
        "engraving": "intaglio print",
        "intaglio print": "print",
        "lithograph": "print",
    },
    exclusive=[["canvas", "board"]],
)

# A small catalogue: counts and wordings chosen so that every rule shows.
CATALOGUE = (
    ["Etching on paper"] * 4
    + ["etching  on paper"] * 2  # same wording once case and spaces are ignored
    + ["Etching and aquatint on paper"] * 3
    + ["Line engraving on paper"] * 2
    + ["Bronze"] * 3
    + ["Photograph, gelatin silver print on paper"] * 3
    + ["Chromogenic print on paper"] * 2
    + ["Oil paint on canvas"] * 2
    + ["Oil paint  on canvas"] * 2  # one wording with the two above: 4 in all
    + ["Oil on canvas"] * 3
    + ["Oil paint on board"] * 2
    + ["Gouache on paper"]
)


def warnings_of(fn, *args, **kwargs):
    """(result, list of the UserWarning messages ``fn`` emitted)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args, **kwargs)
    return result, [str(w.message) for w in caught if w.category is UserWarning]


# ------------------------------------------------------------- the hierarchy


def test_ancestors_closure_narrower_and_leaves_follow_the_broader_terms():
    assert PRINTS.parent("Line  Engraving") == "engraving"
    assert PRINTS.parent("print") is None
    assert PRINTS.ancestors("line engraving") == (
        "engraving",
        "intaglio print",
        "print",
    )
    assert PRINTS.ancestors("print") == ()
    assert PRINTS.closure(["line engraving"]) == (
        "line engraving",
        "engraving",
        "intaglio print",
        "print",
    )
    assert PRINTS.closure(["canvas", "Lithograph"]) == ("lithograph", "print", "canvas")
    assert PRINTS.narrower("intaglio print") == (
        "etching",
        "aquatint",
        "line engraving",
        "engraving",
    )
    assert PRINTS.narrower("engraving") == ("line engraving",)
    assert PRINTS.narrower("etching") == ()
    assert set(PRINTS.narrower("print")) == {
        "etching",
        "aquatint",
        "line engraving",
        "engraving",
        "lithograph",
        "intaglio print",
    }
    assert PRINTS.leaves(["print", "intaglio print", "etching", "canvas"]) == (
        "etching",
        "canvas",
    )
    assert PRINTS.leaves(["engraving", "line engraving", "lithograph", "print"]) == (
        "line engraving",
        "lithograph",
    )
    assert PRINTS.leaves(["print"]) == ("print",)


def test_is_valid_checks_exclusive_groups_through_broader_terms():
    assert PRINTS.is_valid(["etching", "aquatint", "canvas"])
    assert not PRINTS.is_valid(["etching", "canvas", "board"])
    vocab = Vocabulary(
        ["etching", "lithograph", "intaglio print", "print"],
        broader={"etching": "intaglio print", "intaglio print": "print"},
        exclusive=[["intaglio print", "lithograph"]],
    )
    # "etching" implies "intaglio print", which excludes "lithograph".
    assert not vocab.is_valid(["etching", "lithograph"])
    assert vocab.is_valid(["etching", "print"])
    assert vocab.exclusive == (("lithograph", "intaglio print"),)  # vocabulary order


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"broader": {"a": "b", "b": "a"}}, ValueError, "cycle"),
        ({"broader": {"a": "b", "b": "c", "c": "a"}}, ValueError, "cycle"),
        ({"broader": {"a": "a"}}, ValueError, "cycle through 'a'"),
        ({"broader": {"a": "print"}}, ValueError, "'a' -> 'print': both must be"),
        ({"broader": {"x": "a"}}, ValueError, "'x' -> 'a': both must be"),
        (
            {"broader": {"a": "b"}, "exclusive": [["a", "b"]]},
            ValueError,
            "holds 'a' and its broader term 'b'",
        ),
        (
            {"broader": {"a": "b", "b": "c"}, "exclusive": [["c", "a"]]},
            ValueError,
            "holds 'a' and its broader term 'c'",
        ),
        ({"exclusive": [["a", "zzz"]]}, ValueError, "outside the vocabulary"),
        ({"exclusive": ["ab"]}, TypeError, "groups of tags"),
        ({"supports": ["canvas"]}, ValueError, r"supports \['canvas'\]"),
        ({"counts": {"a": 1.5}}, ValueError, "counts"),
        ({"counts": {"zzz": 1}}, ValueError, "counts"),
        ({"descriptions": {"a": "A"}}, TypeError, "tuples of tags"),
        ({"descriptions": {("zzz",): "Z"}}, ValueError, "outside the vocabulary"),
    ],
)
def test_inconsistent_structures_are_refused_clearly(kwargs, error, match):
    with pytest.raises(error, match=match):
        Vocabulary(["a", "b", "c"], **kwargs)


def test_a_structured_vocabulary_round_trips_through_json():
    vocab = build_vocabulary(CATALOGUE, n_tags=None, broader=True)
    assert vocab.broader and vocab.exclusive and vocab.counts and vocab.descriptions
    data = json.loads(json.dumps(vocab.to_dict()))
    assert set(data) == set(Vocabulary.to_dict_keys())
    again = Vocabulary.from_dict(data)
    assert again == vocab
    assert again.supports == vocab.supports
    assert again.description(["bronze"]) == "Bronze"
    assert again.closure(["etching"]) == vocab.closure(["etching"])
    # A changed field gives a different vocabulary: the comparison sees it.
    data["broader"] = data["broader"][1:]
    assert Vocabulary.from_dict(data) != vocab


GOOD = Vocabulary(
    ["etching", "print", "canvas", "board"],
    supports=["canvas", "board"],
    broader={"etching": "print"},
    exclusive=[["canvas", "board"]],
    counts={"etching": 3, "print": 3},
    descriptions={("etching",): "Etching on paper"},
).to_dict()


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("tags", "etching", r"where\.tags must be a list of short strings"),
        ("tags", None, r"where\.tags must be a list"),
        ("tags", [1, 2], r"where\.tags must be a list"),
        ("tags", ["x" * 201], r"where\.tags must be a list of short strings"),
        ("tags", [f"t{i}" for i in range(4097)], r"where\.tags holds more than 4096"),
        ("tags", ["etching", "etching"], r"where: duplicated tag"),
        ("supports", "canvas", r"where\.supports must be a list"),
        ("supports", ["paper"], r"where: supports \['paper'\] are not tags"),
        ("broader", {"etching": "print"}, r"where\.broader must be a list of \[tag"),
        ("broader", [["etching"]], r"where\.broader\[\] must hold 2 strings"),
        ("broader", [["etching", "print", "x"]], r"where\.broader\[\] must hold 2"),
        ("broader", [5], r"where\.broader\[\] must be a list"),
        ("broader", [["etching", "nope"]], r"where: broader term 'etching' -> 'nope'"),
        ("broader", [["etching", "print"], ["print", "etching"]], r"where: .*cycle"),
        ("exclusive", "canvas", r"where\.exclusive must be a list of lists"),
        ("exclusive", [[1, 2]], r"where\.exclusive\[\] must be a list"),
        ("exclusive", [["etching", "print"]], r"where: exclusive group .* broader"),
        ("counts", 5, r"where\.counts must be a list of \[tag, count\] pairs"),
        ("counts", None, r"where\.counts must be a list"),
        ("counts", [["etching", 1.5]], r"where\.counts must be \[tag, count\] pairs"),
        ("counts", [["etching", True]], r"where\.counts must be"),
        ("counts", [["etching", -1]], r"where\.counts must be"),
        ("counts", [["etching", 2**60]], r"where\.counts must be"),
        ("counts", [["etching"]], r"where\.counts must be"),
        ("descriptions", "x", r"where\.descriptions must be a list of at most"),
        ("descriptions", [[["etching"], 3]], r"where\.descriptions must be \[tags"),
        ("descriptions", [["etching", "E"]], r"where\.descriptions\[\]\[0\] must be"),
        ("descriptions", [[["etching"], "E" * 1601]], r"where\.descriptions must be"),
    ],
)
def test_from_dict_names_the_malformed_field(field, value, match):
    data = {**GOOD, field: value}
    with pytest.raises(ValueError, match=match):
        Vocabulary.from_dict(data, where="where")


@pytest.mark.parametrize(
    "data", [None, [], "tags", {"tags": ["a"], "extra": []}, {**GOOD, "Tags": []}]
)
def test_from_dict_refuses_anything_but_its_own_object(data):
    with pytest.raises(ValueError, match=r"^where must be an object with keys"):
        Vocabulary.from_dict(data, where="where")


def test_from_dict_reads_the_minimal_form_and_its_own_output():
    assert Vocabulary.from_dict({"tags": ["Etching"]}) == Vocabulary(["etching"])
    assert Vocabulary.from_dict(GOOD).to_dict() == GOOD


# ------------------------------------------------------------ build_vocabulary


def test_build_vocabulary_adds_broader_terms_supports_and_exclusive_groups():
    vocab = build_vocabulary(CATALOGUE, n_tags=None, broader=True)
    assert list(vocab) == [
        # kept terms, most frequent first (ties alphabetically) ...
        "etching",
        "oil paint",
        "canvas",
        "aquatint",
        "bronze",
        "gelatin silver print",
        "photograph",
        "board",
        "chromogenic print",
        "line engraving",
        "gouache",
        # ... then their broader terms, in order of first need
        "intaglio print",
        "print",
        "paint",
        "metal",
        "engraving",
    ]
    assert vocab.supports == {"canvas", "board"}
    assert set(map(frozenset, vocab.exclusive)) == {
        frozenset({"canvas", "board"}),
        frozenset({"gelatin silver print", "chromogenic print"}),
    }
    assert dict(vocab.broader) == {t: BROADER[t] for t in vocab if t in BROADER}
    assert vocab.ancestors("line engraving") == ("engraving", "intaglio print", "print")
    assert not vocab.is_valid(["oil paint", "canvas", "board"])


def test_build_vocabulary_counts_include_the_implied_broader_tags():
    vocab = build_vocabulary(CATALOGUE, n_tags=None, broader=True)
    counts = dict(vocab.counts)
    assert counts["etching"] == 9
    assert counts["line engraving"] == counts["engraving"] == 2
    # Each artwork counts once: "Etching and aquatint" is one intaglio print.
    assert counts["intaglio print"] == counts["print"] == 11
    assert counts["paint"] == counts["oil paint"] == 9
    assert counts["metal"] == counts["bronze"] == 3
    assert counts["photograph"] == 5  # 3 named + 2 chromogenic prints
    assert counts["gouache"] == 1
    assert set(counts) == set(vocab)


def test_build_vocabulary_keeps_the_catalogues_most_frequent_wording():
    vocab = build_vocabulary(CATALOGUE, n_tags=None, broader=True)
    # "Bronze" stays "Bronze", not "Bronze on paper" (the composed form).
    assert vocab.description(["bronze"]) == "Bronze"
    assert tags_to_medium(["bronze"], vocab) == "Bronze"
    assert tags_to_medium(["bronze"], list(vocab)) == "Bronze on paper"
    # The photograph's wording round-trips through its tags.
    text = "Photograph, gelatin silver print on paper"
    parsed = medium_to_tags(text, vocab)
    assert parsed.unknown == ()
    assert parsed.tags == ("gelatin silver print", "photograph")
    assert tags_to_medium(parsed.tags, vocab) == text
    # Spellings differing only in case or spaces are one wording; the most
    # frequent wording wins (4 "Oil paint on canvas" against 3 "Oil on canvas"),
    # written as most often spelled and with single spaces.
    assert vocab.description(["oil paint", "canvas"]) == "Oil paint on canvas"
    assert vocab.description(["etching"]) == "Etching on paper"
    fewer = build_vocabulary(
        [m for m in CATALOGUE if m != "Oil paint  on canvas"], n_tags=None, broader=True
    )
    assert fewer.description(["oil paint", "canvas"]) == "Oil on canvas"
    # Descriptions with an unknown term teach no wording.
    narrow = build_vocabulary(CATALOGUE, n_tags=None, min_count=2, broader=True)
    assert "gouache" not in narrow
    assert all("Gouache" not in text for _, text in narrow.descriptions)


def test_n_tags_none_keeps_every_term_of_min_count():
    counts = Counter()
    for medium in CATALOGUE:
        parsed = medium_to_tags(medium, ["zzz"])  # every term unknown
        counts.update(set(parsed.unknown))
    for min_count in (1, 3, 5):
        vocab = build_vocabulary(CATALOGUE, n_tags=None, min_count=min_count)
        assert set(vocab) == {t for t, n in counts.items() if n >= min_count}
    assert "gouache" in build_vocabulary(CATALOGUE, n_tags=None)
    assert list(build_vocabulary(CATALOGUE, n_tags=None, min_count=9)) == [
        "etching",
        "oil paint",
    ]
    with pytest.raises(ValueError, match="min_count=100"):
        build_vocabulary(CATALOGUE, n_tags=None, min_count=100)


def test_broader_false_keeps_the_plain_vocabulary():
    vocab = build_vocabulary(CATALOGUE, n_tags=4)
    assert list(vocab) == ["etching", "oil paint", "canvas", "aquatint"]
    assert vocab.supports == {"canvas"}
    assert vocab.broader == vocab.exclusive == vocab.counts == vocab.descriptions == ()
    assert vocab == Vocabulary(
        ["etching", "oil paint", "canvas", "aquatint"], ["canvas"]
    )
    # Without wordings, descriptions are composed (the poster's rules).
    assert tags_to_medium(["oil paint", "canvas"], vocab) == "Oil paint on canvas"
    assert (
        tags_to_medium(["etching", "aquatint"], vocab)
        == "Etching and aquatint on paper"
    )
    opened = build_vocabulary(CATALOGUE, n_tags=4, broader=True)
    assert list(opened)[:4] == list(vocab)
    assert "intaglio print" in opened and "print" in opened  # n_tags + broader


# ----------------------------------------------------- tag_matrix, unknown terms


def test_tag_matrix_warns_once_naming_the_unknown_terms_and_counts():
    mediums = [
        "Gouache on paper",
        "Gouache and chalk on paper",
        "Etching on paper",
        "Gouache on paper",
    ]
    Y, messages = warnings_of(tag_matrix, mediums, ["etching", "print"])
    assert len(messages) == 1
    assert "2 term(s)" in messages[0]
    assert "'gouache' (3)" in messages[0] and "'chalk' (1)" in messages[0]
    assert "'paper'" not in messages[0]  # the default support is never unknown
    np.testing.assert_array_equal(Y, [[0, 0], [0, 0], [1, 0], [0, 0]])


def test_tag_matrix_lists_at_most_eight_unknown_terms():
    mediums = [f"Medium{i} on paper" for i in range(10)]
    _, messages = warnings_of(tag_matrix, mediums, ["etching"])
    assert len(messages) == 1
    assert "10 term(s)" in messages[0] and "and 2 more" in messages[0]


def test_tag_matrix_raises_or_keeps_quiet_as_asked():
    mediums = ["Gouache on paper", "Etching on paper"]
    with pytest.raises(ValueError, match="'gouache' \\(1\\)"):
        tag_matrix(mediums, ["etching"], unknown="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet = tag_matrix(mediums, ["etching"], unknown="ignore")
        # Known terms only: nothing to report, whatever the option.
        known = tag_matrix(["Etching on paper"], ["etching"], unknown="raise")
    np.testing.assert_array_equal(quiet, [[0], [1]])
    np.testing.assert_array_equal(known, [[1]])
    with pytest.raises(ValueError, match="unknown must be 'warn', 'raise' or 'ignore'"):
        tag_matrix(mediums, ["etching"], unknown="drop")


def test_tag_matrix_rows_are_closed_under_broader_terms():
    mediums = [
        "Line engraving on paper",
        "Etching and aquatint on canvas",
        "Lithograph on board",
        "Graphite on paper",
    ]
    Y = tag_matrix(mediums, PRINTS, unknown="ignore")
    rows = [tuple(t for t, on in zip(PRINTS, row) if on) for row in Y]
    assert rows == [
        ("line engraving", "engraving", "intaglio print", "print"),
        ("etching", "aquatint", "intaglio print", "print", "canvas"),
        ("lithograph", "print", "board"),
        (),
    ]
    for row in rows:
        assert PRINTS.closure(row) == row
        assert medium_to_tags(mediums[rows.index(row)], PRINTS).tags == row


def test_unknown_terms_counts_descriptions_per_term():
    mediums = ["Gouache on paper", "Gouache, chalk and gouache on paper"] * 2 + [
        "Etching on paper. Verso: gouache",  # the back of the sheet is not read
        "Etching on paper",
        "",
        None,
    ]
    counts = unknown_terms(mediums, PRINTS)
    assert counts == Counter({"gouache": 4, "chalk": 2})
    assert unknown_terms(["Etching on paper"], PRINTS) == Counter()
    # Under the poster's tags "print" is unknown, under PRINTS it is a tag.
    assert unknown_terms(["Print on paper"]) == Counter({"print": 1})
    assert unknown_terms(["Print on paper"], PRINTS) == Counter()
    with pytest.raises(TypeError, match="not one string"):
        unknown_terms("Gouache on paper", PRINTS)


# ------------------------------------------------------------- tags_to_medium


def test_tags_to_medium_uses_the_wording_then_composes_from_the_leaves():
    vocab = build_vocabulary(CATALOGUE, n_tags=None, broader=True)
    # The catalogue's wording of the tag set, given with or without its
    # broader tags, as names or as an indicator row.
    assert tags_to_medium(["etching", "aquatint"], vocab) == (
        "Etching and aquatint on paper"
    )
    closed = vocab.closure(["gelatin silver print"])
    assert tags_to_medium(closed, vocab) == "Photograph, gelatin silver print on paper"
    row = [int(t in closed) for t in vocab]
    assert tags_to_medium(row, vocab) == "Photograph, gelatin silver print on paper"
    # No wording: composed from the most specific tags only.
    assert not vocab.description(["line engraving", "canvas"])
    assert tags_to_medium(
        ["line engraving", "engraving", "intaglio print", "print", "canvas"], vocab
    ) == ("Line engraving on canvas")
    assert tags_to_medium(["intaglio print", "print"], vocab) == (
        "Intaglio print on paper"
    )
    assert tags_to_medium(["intaglio print"], vocab) == "Intaglio print on paper"
    assert tags_to_medium(["print", "paint"], vocab) == "Print and paint on paper"
    assert tags_to_medium(["canvas"], vocab) == ""
    # A vocabulary without wordings composes the same way.
    assert tags_to_medium(["aquatint", "lithograph", "print"], PRINTS) == (
        "Aquatint and lithograph on paper"
    )
    assert tags_to_medium(["engraving", "line engraving", "board"], PRINTS) == (
        "Line engraving on board"
    )


# ---------------------------------------------------------------------- AAT


def test_aat_term_gives_verified_ids_only():
    etching = aat_term("etching")
    assert etching.id == "300053241"
    assert etching.uri == "http://vocab.getty.edu/aat/300053241"
    assert "etching" in etching.label
    assert etching.source
    assert aat_term("  ETCHING ") == etching
    assert aat_term("Line  Engraving").id == "300053231"
    assert aat_term("graphite") is None  # in the table, no verified id
    assert aat_term("no such medium") is None
    for bad in (300053241, None, ["etching"]):
        with pytest.raises(TypeError, match="tag must be a string"):
            aat_term(bad)


def test_every_aat_id_in_the_table_has_a_source_and_a_valid_form():
    text = resources.files("artmedium").joinpath("data", "aat.csv").read_text("utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    assert rows and set(rows[0]) == {"tag", "aat_id", "aat_term", "source"}
    tags = [row["tag"] for row in rows]
    assert len(tags) == len(set(tags))
    with_id = [row for row in rows if row["aat_id"].strip()]
    assert with_id
    for row in with_id:
        assert re.fullmatch(r"3\d{8}", row["aat_id"]), row
        assert row["source"].strip(), row
        assert row["aat_term"].strip(), row
        term = aat_term(row["tag"])
        assert (term.id, term.label) == (row["aat_id"], row["aat_term"].strip())
    for row in rows:
        if not row["aat_id"].strip():
            assert aat_term(row["tag"]) is None
    # Every broader term artmedium backs off to is at least listed.
    assert set(BROADER.values()) <= set(tags)


# --------------------------------------------------- load_tate(vocabulary=...)


def make_tate(home, counts):
    """A tiny Tate folder (CSV and 8 x 8 thumbnails) with ``counts`` artworks
    of each medium, as in :func:`load_tate`'s example."""
    (home / "images").mkdir(parents=True)
    with open(home / "artwork_data.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["accession_number", "artist", "medium", "thumbnailUrl"])
        i = 0
        for medium, n in counts.items():
            for _ in range(n):
                acno = f"A{i:04d}"
                url = f"http://www.tate.org.uk/art/images/work/{acno}_8.jpg"
                writer.writerow([acno, f"Artist {i % 3}", medium, url])
                Image.new("RGB", (8, 8)).save(home / "images" / f"{acno}_8.jpg")
                i += 1
    return home


@pytest.fixture(scope="module")
def open_tate(tmp_path_factory):
    return make_tate(
        tmp_path_factory.mktemp("tate"),
        {
            "Etching on paper": OPEN_MIN_COUNT + 1,
            "Oil paint on canvas": OPEN_MIN_COUNT,
            "Oil paint on board": 5,
            "Gouache on paper": 3,
        },
    )


def test_load_tate_learns_an_open_vocabulary(open_tate):
    tate, messages = warnings_of(
        load_tate, data_home=open_tate, classes=None, vocabulary="learned"
    )
    vocab = tate.vocabulary
    assert isinstance(vocab, Vocabulary)
    # Terms of at least OPEN_MIN_COUNT images, then their broader terms; "board"
    # (5 images) and "gouache" (3) are too rare.
    assert list(vocab) == [
        "oil paint",
        "etching",
        "canvas",
        "paint",
        "intaglio print",
        "print",
    ]
    assert tate.tag_names == list(vocab)
    assert vocab.supports == {"canvas"}
    assert dict(vocab.counts)["oil paint"] == OPEN_MIN_COUNT + 5
    assert tate.unknown_terms == Counter({"board": 5, "gouache": 3})
    assert len(messages) == 1
    assert "'board' (5)" in messages[0] and "'gouache' (3)" in messages[0]
    # Rows are the learned tags, broader ones included.
    np.testing.assert_array_equal(
        tate.tags, tag_matrix(tate.target, vocab, unknown="ignore")
    )
    etching = tate.tags[list(tate.target).index("Etching on paper")]
    assert [t for t, on in zip(vocab, etching) if on] == [
        "etching",
        "intaglio print",
        "print",
    ]
    assert not tate.tags[tate.target == "Gouache on paper"].any()


def test_load_tate_reports_unknown_terms_of_any_vocabulary_in_one_warning(open_tate):
    tate, messages = warnings_of(load_tate, data_home=open_tate, classes=None)
    assert tate.tag_names == list(tate.vocabulary) == list(POSTER_TAGS)
    assert tate.unknown_terms == Counter({"board": 5, "gouache": 3})
    assert len(messages) == 1 and "2 medium term(s)" in messages[0]
    # A vocabulary holding every term: nothing unknown, nothing to warn about.
    tate, messages = warnings_of(
        load_tate,
        data_home=open_tate,
        classes=None,
        vocabulary=["etching", "oil paint", "canvas", "board", "gouache"],
    )
    assert tate.unknown_terms == Counter()
    assert messages == []
    assert tate.tags.sum(axis=1).min() == 1

"""Medium descriptions <-> media tags (artmedium.vocabulary)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from artmedium.datasets import (
    POSTER_CLASSES,
    POSTER_TAGS,
    MediumTags,
    Vocabulary,
    build_vocabulary,
    medium_to_tags,
    tag_matrix,
    tags_to_medium,
)


def test_poster_constants_are_ten_distinct_entries():
    assert len(POSTER_CLASSES) == len(set(POSTER_CLASSES)) == 10
    assert len(POSTER_TAGS) == len(set(POSTER_TAGS)) == 10


@pytest.mark.parametrize("medium", POSTER_CLASSES)
def test_every_poster_class_round_trips_through_its_tags(medium):
    parsed = medium_to_tags(medium)
    assert parsed.unknown == ()
    assert parsed.tags
    assert tags_to_medium(parsed.tags) == medium
    assert tags_to_medium(set(parsed.tags)) == medium


def test_poster_classes_have_distinct_tag_sets():
    tag_sets = {frozenset(medium_to_tags(m).tags) for m in POSTER_CLASSES}
    assert len(tag_sets) == len(POSTER_CLASSES)


@pytest.mark.parametrize(
    ("medium", "tags"),
    [
        ("Graphite and watercolour on paper", ("graphite", "watercolour")),
        ("Oil paint on canvas", ("oil paint", "canvas")),
        ("Line engraving on paper", ("line engraving",)),
        ("Engraving on paper", ("engraving",)),
        ("Pen and ink on paper", ("pen and ink",)),
        ("Screenprint on canvas", ("canvas", "screenprint")),
        ("Oil paint on paper on canvas", ("oil paint", "canvas")),
        ("Oil on canvas", ("oil paint", "canvas")),
        ("Pencil and watercolor on paper", ("graphite", "watercolour")),
    ],
)
def test_known_descriptions_give_their_tags_in_vocabulary_order(medium, tags):
    assert medium_to_tags(medium) == MediumTags(tags, ())


@pytest.mark.parametrize(
    ("medium", "tags", "unknown"),
    [
        (
            "Graphite, ink and watercolour on paper",
            ("graphite", "watercolour"),
            ("ink",),
        ),
        ("Oil paint on board", ("oil paint",), ("board",)),
        ("Etching and aquatint on paper", ("etching",), ("aquatint",)),
        (
            "Watercolour, ink, chalk and graphite on paper. Verso: graphite on paper",
            ("graphite", "watercolour"),
            ("ink", "chalk"),
        ),
        ("Wood engraving on paper", (), ("wood engraving",)),
        ("Bronze", (), ("bronze",)),
    ],
)
def test_unknown_terms_are_reported_not_dropped(medium, tags, unknown):
    result = medium_to_tags(medium)
    assert result.tags == tags
    assert result.unknown == unknown


def test_verso_text_is_ignored():
    # The thumbnail shows the recto; the verso's graphite must not become a tag.
    assert medium_to_tags("Ink on paper. Verso: graphite on paper") == MediumTags(
        (), ("ink",)
    )
    assert medium_to_tags("Graphite on paper. VERSO : watercolour").tags == (
        "graphite",
    )


def test_pen_and_ink_is_one_term_but_pen_alone_is_not():
    assert medium_to_tags("Chalk and pen and ink on paper") == MediumTags(
        ("pen and ink",), ("chalk",)
    )
    assert medium_to_tags("Gouache, pen and ink and watercolour on paper").tags == (
        "watercolour",
        "pen and ink",
    )
    result = medium_to_tags("Graphite, watercolour and pen on paper")
    assert "pen and ink" not in result.tags
    assert result.unknown == ("pen",)


def test_line_engraving_is_not_engraving():
    assert medium_to_tags("Etching and line engraving on paper").tags == (
        "etching",
        "line engraving",
    )
    assert medium_to_tags("Engraving and etching on paper").tags == (
        "etching",
        "engraving",
    )


def test_case_and_whitespace_do_not_matter():
    messy = "  GRAPHITE   and\nWatercolour  on Paper \n"
    assert medium_to_tags(messy) == medium_to_tags("Graphite and watercolour on paper")


def test_empty_description_has_no_tags_and_no_unknown_terms():
    assert medium_to_tags("") == MediumTags((), ())
    assert medium_to_tags("   ") == MediumTags((), ())
    assert medium_to_tags(None) == MediumTags((), ())
    assert medium_to_tags(float("nan")) == MediumTags((), ())


def test_custom_vocabulary_as_a_list():
    result = medium_to_tags("Etching and aquatint on paper", ["Aquatint", "etching"])
    assert result == MediumTags(("aquatint", "etching"), ())
    result = medium_to_tags("Oil paint on board", ["oil paint", "board"])
    assert result.tags == ("oil paint", "board")


@pytest.mark.parametrize(
    ("vocabulary", "error"),
    [
        ("graphite", TypeError),
        ([], ValueError),
        (["graphite", "Graphite"], ValueError),
        (["graphite", ""], ValueError),
    ],
)
def test_invalid_vocabularies_are_refused(vocabulary, error):
    with pytest.raises(error):
        medium_to_tags("Graphite on paper", vocabulary)


def test_vocabulary_supports_must_be_tags():
    with pytest.raises(ValueError, match="board"):
        Vocabulary(["graphite"], supports=["board"])


def test_tag_matrix_matches_medium_to_tags_row_by_row():
    mediums = [
        "Graphite on paper",
        "Oil paint on canvas",
        "Graphite on paper",
        "",
        "Etching and line engraving on paper",
    ]
    matrix = tag_matrix(mediums)
    assert matrix.shape == (5, len(POSTER_TAGS))
    assert set(np.unique(matrix)) <= {0, 1}
    for row, medium in zip(matrix, mediums):
        tags = {POSTER_TAGS[j] for j in np.flatnonzero(row)}
        assert tags == set(medium_to_tags(medium).tags)


def test_tag_matrix_of_nothing_keeps_the_tag_axis():
    assert tag_matrix([], ["a", "b"]).shape == (0, 2)


def test_build_vocabulary_ranks_terms_by_description_count():
    mediums = (
        ["Etching and aquatint on paper"] * 3
        + ["Etching on paper"] * 2
        + ["Oil paint on canvas"] * 4
        + ["Oil paint on board"]
        + ["Graphite on paper. Verso: aquatint on paper"] * 9
    )
    vocab = build_vocabulary(mediums, n_tags=4)
    # graphite 9, etching 5, oil paint 5, canvas 4; aquatint 3 (verso ignored).
    assert list(vocab) == ["graphite", "etching", "oil paint", "canvas"]
    assert vocab.supports == frozenset({"canvas"})
    assert "paper" not in build_vocabulary(mediums, n_tags=50)


def test_build_vocabulary_counts_a_term_once_per_description():
    vocab = build_vocabulary(
        ["Etching and etching on paper"] * 1 + ["Ink on paper"] * 2
    )
    assert list(vocab) == ["ink", "etching"]


def test_build_vocabulary_returns_fewer_tags_when_data_has_fewer_terms():
    assert len(build_vocabulary(["Graphite on paper"], n_tags=10)) == 1


@pytest.mark.parametrize(
    ("n_tags", "error"),
    [(0, ValueError), (-1, ValueError), (2.5, TypeError), (True, TypeError)],
)
def test_build_vocabulary_refuses_bad_sizes(n_tags, error):
    with pytest.raises(error, match="n_tags"):
        build_vocabulary(["Graphite on paper"], n_tags=n_tags)


def test_build_vocabulary_refuses_data_without_terms():
    with pytest.raises(ValueError, match="no medium terms"):
        build_vocabulary(["", "  "])


def test_built_vocabulary_drives_parsing_and_composition():
    vocab = build_vocabulary(
        ["Oil paint on board", "Oil paint on board", "Acrylic paint on board"], n_tags=3
    )
    assert vocab.supports == frozenset({"board"})
    assert medium_to_tags("Acrylic paint on board", vocab).tags == (
        "board",
        "acrylic paint",
    )
    assert tags_to_medium({"acrylic paint", "board"}, vocab) == "Acrylic paint on board"


@pytest.mark.parametrize(
    ("tags", "medium"),
    [
        ({"oil paint"}, "Oil paint on paper"),
        ({"screenprint", "canvas"}, "Screenprint on canvas"),
        ({"etching", "watercolour"}, "Watercolour and etching on paper"),
        (
            {"graphite", "watercolour", "pen and ink"},
            "Graphite, watercolour and pen and ink on paper",
        ),
        ({"canvas"}, ""),
        (set(), ""),
    ],
)
def test_tags_to_medium_composes_when_no_poster_class_matches(tags, medium):
    assert tags_to_medium(tags) == medium


def test_tags_to_medium_accepts_an_indicator_row():
    row = np.zeros(len(POSTER_TAGS), dtype=bool)
    row[[POSTER_TAGS.index("oil paint"), POSTER_TAGS.index("canvas")]] = True
    assert tags_to_medium(row) == "Oil paint on canvas"
    assert tags_to_medium(row.astype(int).tolist()) == "Oil paint on canvas"


def test_tags_to_medium_accepts_a_parse_result():
    assert tags_to_medium(medium_to_tags("Etching on paper")) == "Etching on paper"


@pytest.mark.parametrize(
    ("tags", "error", "match"),
    [
        ({"gouache"}, ValueError, "gouache"),
        ([1, 0, 1], ValueError, "length 10"),
        ("graphite", TypeError, "string"),
    ],
)
def test_tags_to_medium_refuses_bad_input(tags, error, match):
    with pytest.raises(error, match=match):
        tags_to_medium(tags)


@given(st.sets(st.sampled_from(POSTER_TAGS), min_size=1))
def test_composed_descriptions_parse_back_to_their_tags(tags):
    medium = tags_to_medium(tags)
    if tags == {"canvas"}:
        assert medium == ""
    else:
        assert set(medium_to_tags(medium).tags) == tags
        assert medium_to_tags(medium).unknown == ()

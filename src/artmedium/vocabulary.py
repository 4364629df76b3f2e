"""Tate medium descriptions <-> media tags: the vocabulary every layer shares.

The bottom floor of artmedium, with :mod:`artmedium.io`: it imports nothing
from the rest of the package, so datasets, estimators, explain and inference
all use it without depending on each other. ``artmedium.datasets`` re-exports
its names.

A Tate medium description ("Graphite, ink and watercolour on paper") names the
media before the first `` on `` and the support after it. :func:`medium_to_tags`
splits it into terms and keeps those of a vocabulary; :func:`tags_to_medium` goes
back from a set of (predicted) tags to a description.

Parsing rules, in order:

1. Case and whitespace do not matter (``" ".join(text.split()).casefold()``).
2. Everything from ``Verso:`` on is ignored: it describes the back of the sheet,
   which the thumbnail does not show, and Tate repeats the recto medium there
   ("Graphite on paper. Verso: graphite on paper"), which would only add noise.
3. The text before the first `` on `` lists the media, the rest the support(s)
   ("Oil paint on paper on canvas" has the supports paper and canvas).
4. Lists are split on commas, semicolons and the word ``and``, except inside
   ``pen and ink`` and ``black and white``, which stay one term each.
5. A few spellings are unified: ``oil`` -> ``oil paint``, ``pencil`` ->
   ``graphite``, ``watercolor`` -> ``watercolour``, ``silkscreen`` ->
   ``screenprint``, ``gelatine silver print`` -> ``gelatin silver print``.
6. Terms are compared whole: ``line engraving`` is not ``engraving`` and
   ``wood engraving`` (a relief process) is neither.

``paper`` is the default support: it is never a tag and never unknown, and
:func:`tags_to_medium` writes "on paper" unless a support tag says otherwise.
"""

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from artmedium._validation import check_count

__all__ = [
    "POSTER_CLASSES",
    "POSTER_TAGS",
    "MediumTags",
    "Vocabulary",
    "as_vocabulary",
    "build_vocabulary",
    "medium_to_tags",
    "tag_matrix",
    "tags_to_medium",
]

#: The ten medium classes of the poster, most frequent first (in Tate's metadata).
POSTER_CLASSES = (
    "Graphite on paper",
    "Oil paint on canvas",
    "Lithograph on paper",
    "Screenprint on paper",
    "Etching on paper",
    "Watercolour on paper",
    "Graphite and watercolour on paper",
    "Engraving on paper",
    "Line engraving on paper",
    "Pen and ink on paper",
)

#: The ten media tags of the poster; ``canvas`` is the only support among them.
POSTER_TAGS = (
    "graphite",
    "watercolour",
    "oil paint",
    "canvas",
    "lithograph",
    "screenprint",
    "etching",
    "engraving",
    "line engraving",
    "pen and ink",
)

DEFAULT_SUPPORT = "paper"

# Supports recognised when a vocabulary is given as a plain list of strings; a
# :class:`Vocabulary` built from data knows its supports from where they occurred.
_KNOWN_SUPPORTS = frozenset(
    {
        "canvas",
        "board",
        "wood",
        "panel",
        "linen",
        "hardboard",
        "plywood",
        "mahogany",
        "oak",
        "card",
        "cardboard",
        "paper",
        "fabric",
        "silk",
        "copper",
        "glass",
        "vellum",
        "parchment",
    }
)

_VERSO = re.compile(r"\bverso\s*:")
# "pen and ink" would otherwise split into "pen" and "ink"; while splitting, each
# compound is spelled with underscores (word characters, so `\band\b` skips it).
_COMPOUNDS = {c.replace(" ", "_"): c for c in ("pen and ink", "black and white")}
_LIST_SEPARATOR = re.compile(r"\s*(?:,|;|\band\b)\s*")
_ALIASES = {
    "oil": "oil paint",
    "oil paints": "oil paint",
    "pencil": "graphite",
    "watercolor": "watercolour",
    "silkscreen": "screenprint",
    "screen print": "screenprint",
    "gelatine silver print": "gelatin silver print",
}


def _normalize(text):
    return " ".join(str(text).split()).casefold()


def _split_list(text):
    for glued, compound in _COMPOUNDS.items():
        text = text.replace(compound, glued)
    terms = []
    for part in _LIST_SEPARATOR.split(text):
        term = part.strip(" .:")
        for glued, compound in _COMPOUNDS.items():
            term = term.replace(glued, compound)
        if term:
            terms.append(_ALIASES.get(term, term))
    return terms


def _parse(medium):
    """Split a description into ``(media terms, support terms)``, both lists."""
    if medium is None or (isinstance(medium, float) and medium != medium):
        return [], []  # a missing value (None, NaN from pandas) describes nothing
    text = _VERSO.split(_normalize(medium), maxsplit=1)[0].strip(" .;,")
    if text.startswith("on "):
        text = " " + text
    media, _, supports = text.partition(" on ")
    return _split_list(media), _split_list(supports.replace(" on ", ", "))


@dataclass(frozen=True)
class Vocabulary(Sequence):
    """An ordered set of media tags, some of which are supports.

    Behaves like a tuple of its tag names (``len``, indexing, iteration, ``in``).

    Parameters
    ----------
    tags : sequence of str
        Tag names, compared with medium terms after case and whitespace
        normalisation (stored normalised).
    supports : iterable of str, default=()
        The tags that name a support ("canvas", "board"); they follow "on" in a
        description composed by :func:`tags_to_medium`.

    Examples
    --------
    >>> vocab = Vocabulary(["Etching", "aquatint", "canvas"], supports=["canvas"])
    >>> list(vocab), vocab.supports
    (['etching', 'aquatint', 'canvas'], frozenset({'canvas'}))
    """

    tags: tuple
    supports: frozenset = frozenset()

    def __init__(self, tags, supports=()):
        if isinstance(tags, str):
            raise TypeError(
                f"tags must be a sequence of tag names, got the string {tags!r}"
            )
        names = tuple(_normalize(t) for t in tags)
        if not names:
            raise ValueError("a vocabulary needs at least one tag")
        if "" in names:
            raise ValueError(f"empty tag name in vocabulary {list(tags)!r}")
        duplicated = sorted(name for name, n in Counter(names).items() if n > 1)
        if duplicated:
            raise ValueError(f"duplicated tag(s) in vocabulary: {duplicated}")
        support_names = frozenset(_normalize(s) for s in supports)
        stray = sorted(support_names - set(names))
        if stray:
            raise ValueError(f"supports {stray} are not tags of the vocabulary")
        object.__setattr__(self, "tags", names)
        object.__setattr__(self, "supports", support_names)

    def __len__(self):
        return len(self.tags)

    def __getitem__(self, index):
        return self.tags[index]

    def __iter__(self):
        return iter(self.tags)

    def __contains__(self, name):
        return isinstance(name, str) and _normalize(name) in self.tags


def as_vocabulary(vocabulary):
    """A :class:`Vocabulary` from None (the poster's ten tags), a Vocabulary, or
    a list of tag names (those naming a support, such as "canvas", are supports).

    Examples
    --------
    >>> from artmedium.vocabulary import as_vocabulary
    >>> sorted(as_vocabulary(["etching", "canvas"]).supports)
    ['canvas']
    """
    if vocabulary is None:
        vocabulary = POSTER_TAGS
    if isinstance(vocabulary, Vocabulary):
        return vocabulary
    if isinstance(vocabulary, str) or not isinstance(vocabulary, Iterable):
        raise TypeError(
            "vocabulary must be None, a Vocabulary or a list of tag names, "
            f"got {vocabulary!r}"
        )
    tags = list(vocabulary)
    return Vocabulary(
        tags, supports=[t for t in tags if _normalize(t) in _KNOWN_SUPPORTS]
    )


class MediumTags(NamedTuple):
    """What :func:`medium_to_tags` found in one description.

    Attributes
    ----------
    tags : tuple of str
        Tags of the vocabulary present in the description, in vocabulary order.
    unknown : tuple of str
        Terms of the description that are not in the vocabulary (normalised, in
        order of appearance, without duplicates). The default support ``paper``
        is never reported.
    """

    tags: tuple
    unknown: tuple


def medium_to_tags(medium, vocabulary=None):
    """Parse a Tate medium description into tags of a vocabulary.

    See the module docstring for the parsing rules (case, whitespace, ``Verso:``,
    ``pen and ink``, ``line engraving`` vs ``engraving``, supports).

    Parameters
    ----------
    medium : str
        A medium description such as "Graphite and watercolour on paper". An
        empty string, None or NaN gives no tags and no unknown terms.
    vocabulary : None, Vocabulary or sequence of str, default=None
        The tags to look for; None means :data:`POSTER_TAGS`. A plain list of
        names treats common supports (canvas, board, wood, ...) as supports; use
        :func:`build_vocabulary` or :class:`Vocabulary` to control that.

    Returns
    -------
    MediumTags
        ``tags`` (in vocabulary order) and ``unknown`` terms, so that nothing is
        silently dropped.

    Examples
    --------
    >>> medium_to_tags("Graphite and watercolour on paper")
    MediumTags(tags=('graphite', 'watercolour'), unknown=())
    >>> medium_to_tags("Etching and aquatint on paper")
    MediumTags(tags=('etching',), unknown=('aquatint',))
    >>> medium_to_tags("Oil paint on board").unknown
    ('board',)
    >>> medium_to_tags("Watercolour, ink, chalk and graphite on paper. Verso: graphite")
    MediumTags(tags=('graphite', 'watercolour'), unknown=('ink', 'chalk'))
    >>> medium_to_tags("Etching and aquatint on paper", ["etching", "aquatint"]).tags
    ('etching', 'aquatint')
    """
    vocab = as_vocabulary(vocabulary)
    return _tags_of(medium, vocab)


def _tags_of(medium, vocab):
    media, supports = _parse(medium)
    found, unknown = set(), []
    for term in media + supports:
        if term in vocab.tags:
            found.add(term)
        elif term != DEFAULT_SUPPORT and term not in unknown:
            unknown.append(term)
    return MediumTags(tuple(t for t in vocab.tags if t in found), tuple(unknown))


def tag_matrix(mediums, vocabulary=None):
    """Turn many medium descriptions into a 0/1 tag indicator matrix.

    Each distinct description is parsed once, so tens of thousands of rows with
    a few thousand distinct descriptions take well under a second.

    Parameters
    ----------
    mediums : iterable of str
        Medium descriptions.
    vocabulary : None, Vocabulary or sequence of str, default=None
        As in :func:`medium_to_tags`; None means :data:`POSTER_TAGS`.

    Returns
    -------
    ndarray of shape (n_mediums, n_tags), dtype int
        ``[i, j] == 1`` when description ``i`` has tag ``j`` of the vocabulary.

    Examples
    --------
    >>> tag_matrix(["Oil paint on canvas", "Graphite on paper"], ["graphite", "canvas"])
    array([[0, 1],
           [1, 0]])
    """
    vocab = as_vocabulary(vocabulary)
    column = {tag: j for j, tag in enumerate(vocab.tags)}
    rows_of = {}
    mediums = list(mediums)
    out = np.zeros((len(mediums), len(vocab)), dtype=int)
    for i, medium in enumerate(mediums):
        columns = rows_of.get(medium)
        if columns is None:
            columns = [column[t] for t in _tags_of(medium, vocab).tags]
            rows_of[medium] = columns
        out[i, columns] = 1
    return out


def build_vocabulary(mediums, *, n_tags=10):
    """Build a vocabulary of the most frequent terms in medium descriptions.

    Each description counts a term at most once; the default support ``paper``
    is not counted (every other description is on paper, so it tells nothing).
    A term is a support when it followed "on" in most of its occurrences.

    Parameters
    ----------
    mediums : iterable of str
        Medium descriptions, one per artwork (so frequent artworks weigh more).
    n_tags : int, default=10
        Size of the vocabulary. Fewer tags are returned when the descriptions
        hold fewer distinct terms.

    Returns
    -------
    Vocabulary
        The ``n_tags`` most frequent terms, most frequent first (ties
        alphabetically).

    Examples
    --------
    >>> mediums = ["Etching and aquatint on paper", "Etching on paper", "Oil on canvas"]
    >>> vocab = build_vocabulary(mediums, n_tags=2)
    >>> list(vocab)
    ['etching', 'aquatint']
    >>> build_vocabulary(["Oil paint on canvas"] * 2 + ["Etching on paper"]).supports
    frozenset({'canvas'})
    """
    check_count(n_tags, "n_tags")
    if isinstance(mediums, str):
        raise TypeError("mediums must be a list of descriptions, not one string")
    counts, as_support = Counter(), Counter()
    for medium, n in Counter(mediums).items():
        media, supports = _parse(medium)
        terms = set(media) | set(supports)
        terms.discard(DEFAULT_SUPPORT)
        for term in terms:
            counts[term] += n
        for term in set(supports) - set(media):
            as_support[term] += n
    if not counts:
        raise ValueError("no medium terms found: all descriptions are empty")
    ranked = sorted(counts, key=lambda t: (-counts[t], t))[:n_tags]
    supports = [t for t in ranked if 2 * as_support[t] > counts[t]]
    return Vocabulary(ranked, supports=supports)


def _poster_lookup(vocab):
    """Map the tag set of each poster class expressible in ``vocab`` to the class."""
    lookup = {}
    for name in POSTER_CLASSES:
        parsed = _tags_of(name, vocab)
        if parsed.tags and not parsed.unknown:
            lookup.setdefault(frozenset(parsed.tags), name)
    return lookup


def _join(terms):
    if len(terms) == 1:
        return terms[0]
    return ", ".join(terms[:-1]) + " and " + terms[-1]


def tags_to_medium(tags, vocabulary=None):
    """Compose the medium description that best matches a set of tags.

    When the tags are exactly those of a poster class, that class is returned.
    Otherwise the description is composed from the media tags in vocabulary
    order, "on" the support tags (canvas when present), else "on paper".

    Parameters
    ----------
    tags : iterable of str or array-like of shape (n_tags,)
        Tag names, or a 0/1 (or boolean) indicator row in vocabulary order, as
        predicted by a multi-label tagger.
    vocabulary : None, Vocabulary or sequence of str, default=None
        As in :func:`medium_to_tags`; None means :data:`POSTER_TAGS`.

    Returns
    -------
    str
        The description, or ``""`` when no medium tag (only supports or nothing)
        is present: there is then no medium to name.

    Examples
    --------
    >>> tags_to_medium({"watercolour", "graphite"})
    'Graphite and watercolour on paper'
    >>> tags_to_medium(["screenprint", "canvas"])
    'Screenprint on canvas'
    >>> tags_to_medium([1, 0, 0, 0, 0, 0, 1, 0, 0, 0])
    'Graphite and etching on paper'
    """
    vocab = as_vocabulary(vocabulary)
    names = _tag_names(tags, vocab)
    exact = _poster_lookup(vocab).get(frozenset(names))
    if exact is not None:
        return exact
    media = [t for t in vocab.tags if t in names and t not in vocab.supports]
    if not media:
        return ""
    supports = [t for t in vocab.tags if t in names and t in vocab.supports]
    text = f"{_join(media)} on {' on '.join(supports) or DEFAULT_SUPPORT}"
    return text[0].upper() + text[1:]


def _tag_names(tags, vocab):
    if isinstance(tags, MediumTags):
        tags = tags.tags
    if isinstance(tags, str):
        raise TypeError(
            f"tags must be a collection of tag names, got the string {tags!r}"
        )
    tags = list(tags)
    if not tags:
        return set()
    if all(isinstance(t, str) for t in tags):
        names = {_normalize(t) for t in tags}
        unknown = sorted(names - set(vocab.tags))
        if unknown:
            raise ValueError(f"tags {unknown} are not in the vocabulary {list(vocab)}")
        return names
    row = np.asarray(tags)
    if row.ndim != 1 or row.dtype.kind not in "biuf" or len(row) != len(vocab):
        raise ValueError(
            f"tags must be tag names or a 0/1 indicator row of length {len(vocab)}, "
            f"got {tags!r}"
        )
    return {vocab.tags[j] for j in np.flatnonzero(row)}

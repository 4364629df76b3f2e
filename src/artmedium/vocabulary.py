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

Open vocabularies
-----------------
:func:`build_vocabulary` learns a vocabulary from a collection's descriptions
(``n_tags=None, min_count=15`` keeps every term of at least 15 artworks) and
gives it three things the poster's ten tags do without:

* **broader terms** (:data:`BROADER`): "etching" is an "intaglio print", which is
  a "print"; a tag implies its broader terms, so ``medium_to_tags`` returns
  them too and a tagger learns them as tags of their own. An uncertain
  "etching" can then be answered as a confident "Intaglio print on paper".
  The hierarchy is artmedium's, written for backing off; it borrows the AAT's
  words, not its tree.
* **exclusive groups** (:data:`EXCLUSIVE`, and the supports): at most one tag of
  a group describes an artwork (one support; colour or black and white), so
  decoding never emits an impossible set;
* **descriptions**: the catalogue's own wording of each tag set ("Photograph,
  gelatin silver print on paper", "Bronze"), used by :func:`tags_to_medium`
  before it composes one.

:func:`aat_term` gives a tag's Getty Art & Architecture Thesaurus id where one
was verified (``artmedium/data/aat.csv``, each row naming its source).
"""

import csv
import io
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from artmedium._validation import check_count

__all__ = [
    "BROADER",
    "EXCLUSIVE",
    "OPEN_MIN_COUNT",
    "POSTER_CLASSES",
    "POSTER_TAGS",
    "MediumTags",
    "Vocabulary",
    "AATTerm",
    "aat_term",
    "as_vocabulary",
    "build_vocabulary",
    "unknown_terms",
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

#: Broader term of each term, for backing off when a tagger is unsure
#: (artmedium's hierarchy; see the module docstring). A vocabulary built with
#: ``broader=True`` adds the broader terms of its tags as tags.
BROADER = MappingProxyType(
    {
        "etching": "intaglio print",
        "engraving": "intaglio print",
        "line engraving": "engraving",
        "aquatint": "intaglio print",
        "mezzotint": "intaglio print",
        "drypoint": "intaglio print",
        "photo-etching": "intaglio print",
        "woodcut": "relief print",
        "wood engraving": "relief print",
        "linocut": "relief print",
        "intaglio print": "print",
        "relief print": "print",
        "lithograph": "print",
        "screenprint": "print",
        "digital print": "print",
        "oil paint": "paint",
        "acrylic paint": "paint",
        "tempera": "paint",
        "gelatin silver print": "photograph",
        "chromogenic print": "photograph",
        "pen and ink": "ink",
        "bronze": "metal",
        "steel": "metal",
        "aluminium": "metal",
        "hardboard": "board",
        "plywood": "wood",
    }
)

#: ``build_vocabulary(..., n_tags=None, min_count=OPEN_MIN_COUNT, broader=True)``
#: is the open vocabulary of ``load_tate(vocabulary="learned")`` and of the
#: embedded tagger: every term of at least 15 artworks.
OPEN_MIN_COUNT = 15

#: Groups of terms of which one artwork shows at most one (besides the
#: supports, which :func:`build_vocabulary` makes a group of their own).
EXCLUSIVE = (
    frozenset({"gelatin silver print", "chromogenic print"}),
    frozenset({"colour", "black and white"}),
)

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
    A vocabulary learned by :func:`build_vocabulary` also knows each tag's
    broader term, which tags exclude each other and how the catalogue words
    each tag set.

    Parameters
    ----------
    tags : sequence of str
        Tag names, compared with medium terms after case and whitespace
        normalisation (stored normalised).
    supports : iterable of str, default=()
        The tags that name a support ("canvas", "board"); they follow "on" in a
        description composed by :func:`tags_to_medium`.
    broader : mapping of str to str or None, default=None
        The broader tag of a tag ("etching" -> "intaglio print"); both must be
        tags, and following them must never come back to a tag. A tag implies
        all its broader tags (:meth:`closure`).
    exclusive : iterable of iterables of str, default=()
        Groups of tags of which an artwork shows at most one; no group may hold
        a tag and one of its broader tags.
    counts : mapping of str to int or None, default=None
        How many artworks of the data the vocabulary was learned from show
        each tag (for information).
    descriptions : mapping of tuple of str to str or None, default=None
        The catalogue's description of each set of most specific tags
        (:meth:`leaves`), e.g. ``("bronze",) -> "Bronze"``.

    Examples
    --------
    >>> vocab = Vocabulary(["Etching", "aquatint", "canvas"], supports=["canvas"])
    >>> list(vocab), vocab.supports
    (['etching', 'aquatint', 'canvas'], frozenset({'canvas'}))
    >>> vocab = Vocabulary(["etching", "intaglio print", "print"],
    ...                    broader={"etching": "intaglio print",
    ...                             "intaglio print": "print"})
    >>> vocab.ancestors("etching")
    ('intaglio print', 'print')
    >>> vocab.leaves(["print", "etching", "intaglio print"])
    ('etching',)
    """

    tags: tuple
    supports: frozenset = frozenset()
    broader: tuple = ()
    exclusive: tuple = ()
    counts: tuple = ()
    descriptions: tuple = ()

    def __init__(
        self,
        tags,
        supports=(),
        *,
        broader=None,
        exclusive=(),
        counts=None,
        descriptions=None,
    ):
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
        known = set(names)
        support_names = frozenset(_normalize(s) for s in supports)
        stray = sorted(support_names - known)
        if stray:
            raise ValueError(f"supports {stray} are not tags of the vocabulary")
        parent = {}
        for child, up in dict(broader or {}).items():
            child, up = _normalize(child), _normalize(up)
            if child not in known or up not in known:
                raise ValueError(
                    f"broader term {child!r} -> {up!r}: both must be tags of the "
                    "vocabulary"
                )
            parent[child] = up
        for child in parent:
            seen, tag = {child}, child
            while tag in parent:
                tag = parent[tag]
                if tag in seen:
                    raise ValueError(f"broader terms form a cycle through {child!r}")
                seen.add(tag)
                if len(seen) > _MAX_BROADER_DEPTH + 1:
                    # Bounds the walks up the hierarchy (a crafted model file
                    # could otherwise ask for minutes of them).
                    raise ValueError(
                        f"broader terms nest more than {_MAX_BROADER_DEPTH} "
                        f"levels deep above {child!r}"
                    )
        order = {t: j for j, t in enumerate(names)}
        groups, chains = [], {}
        for group in exclusive:
            if isinstance(group, str):
                raise TypeError(
                    f"exclusive must hold groups of tags, got the string {group!r}"
                )
            members = {_normalize(t) for t in group}
            if any(m not in known for m in members):
                raise ValueError(
                    f"exclusive group {sorted(members)} has tags outside the vocabulary"
                )
            members = sorted(members, key=order.get)
            member_set = set(members)
            for m in members:
                if m not in chains:
                    chains[m] = _chain(m, parent)
                related = member_set.intersection(chains[m])
                if related:
                    raise ValueError(
                        f"exclusive group {members} holds {m!r} and its broader "
                        f"term {sorted(related)[0]!r}"
                    )
            if len(members) >= 2:
                groups.append(tuple(members))
        count_of = {}
        for tag, n in dict(counts or {}).items():
            tag = _normalize(tag)
            if tag not in known or isinstance(n, bool) or not isinstance(n, int):
                raise ValueError(f"counts: {tag!r} must be a tag with an int count")
            count_of[tag] = n
        wording = []
        for key, text in dict(descriptions or {}).items():
            if isinstance(key, str) or not isinstance(text, str):
                raise TypeError(
                    "descriptions must map tuples of tags to description strings"
                )
            leaves = {_normalize(t) for t in key}
            if any(t not in known for t in leaves):
                raise ValueError(
                    f"description {text!r} names tags outside the vocabulary"
                )
            leaves = tuple(sorted(leaves, key=order.get))
            wording.append((leaves, " ".join(text.split())))
        object.__setattr__(self, "tags", names)
        object.__setattr__(self, "supports", support_names)
        object.__setattr__(
            self, "broader", tuple((t, parent[t]) for t in names if t in parent)
        )
        object.__setattr__(self, "exclusive", tuple(groups))
        object.__setattr__(
            self, "counts", tuple((t, count_of[t]) for t in names if t in count_of)
        )
        object.__setattr__(self, "descriptions", tuple(sorted(wording)))

    # Lookups built once per vocabulary (its fields never change): a tagger
    # asks them for every image it describes.
    @cached_property
    def _parents(self):
        return dict(self.broader)

    @cached_property
    def _wording(self):
        return dict(self.descriptions)

    def __len__(self):
        return len(self.tags)

    def __getitem__(self, index):
        return self.tags[index]

    def __iter__(self):
        return iter(self.tags)

    def __contains__(self, name):
        return isinstance(name, str) and _normalize(name) in self.tags

    def __repr__(self):
        extra = ""
        if self.broader:
            extra += f", {len(self.broader)} broader terms"
        if self.exclusive:
            extra += f", {len(self.exclusive)} exclusive groups"
        if self.descriptions:
            extra += f", {len(self.descriptions)} descriptions"
        return f"Vocabulary({len(self.tags)} tags{extra})"

    def parent(self, tag):
        """The broader tag of ``tag``, or None.

        Examples
        --------
        >>> vocab = Vocabulary(["etching", "print"], broader={"etching": "print"})
        >>> vocab.parent("etching")
        'print'
        """
        return self._parents.get(_normalize(tag))

    def ancestors(self, tag):
        """Broader tags of ``tag``, nearest first (empty for a top tag)."""
        return _chain(_normalize(tag), self._parents)

    def narrower(self, tag):
        """Every tag under ``tag`` in the hierarchy (its children, theirs, ...),
        in vocabulary order."""
        tag = _normalize(tag)
        parent = self._parents
        return tuple(t for t in self.tags if tag in _chain(t, parent))

    def closure(self, tags):
        """``tags`` with all their broader tags, in vocabulary order.

        Examples
        --------
        >>> vocab = Vocabulary(["etching", "intaglio print", "print"],
        ...                    broader={"etching": "intaglio print",
        ...                             "intaglio print": "print"})
        >>> vocab.closure(["etching"])
        ('etching', 'intaglio print', 'print')
        """
        parent = self._parents
        found = set()
        for tag in tags:
            tag = _normalize(tag)
            found.add(tag)
            found.update(_chain(tag, parent))
        return tuple(t for t in self.tags if t in found)

    def leaves(self, tags):
        """The most specific of ``tags``: those no other of them is narrower than."""
        parent = self._parents
        names = {_normalize(t) for t in tags}
        implied = {a for t in names for a in _chain(t, parent)}
        return tuple(t for t in self.tags if t in names and t not in implied)

    def is_valid(self, tags):
        """Whether ``tags`` respect every exclusive group (at most one of each)."""
        closed = set(self.closure(tags))
        return all(len(closed.intersection(g)) <= 1 for g in self.exclusive)

    def description(self, tags):
        """The catalogue's wording of ``tags`` (by their leaves), or None."""
        return self._wording.get(self.leaves(tags))

    def to_dict(self):
        """A JSON-safe dict :meth:`from_dict` reads back (models save it).

        Examples
        --------
        >>> vocab = Vocabulary(["etching", "print"], broader={"etching": "print"})
        >>> Vocabulary.from_dict(vocab.to_dict()) == vocab
        True
        """
        return {
            "tags": list(self.tags),
            "supports": [t for t in self.tags if t in self.supports],
            "broader": [list(pair) for pair in self.broader],
            "exclusive": [list(g) for g in self.exclusive],
            "counts": [[t, n] for t, n in self.counts],
            "descriptions": [[list(k), text] for k, text in self.descriptions],
        }

    @classmethod
    def from_dict(cls, data, where="vocabulary"):
        """The vocabulary :meth:`to_dict` wrote, every field type-checked.

        Raises
        ------
        ValueError
            Naming ``where`` and the field, when ``data`` is not such a dict.
        """

        def strings(value, name, size=None):
            if not isinstance(value, list) or not all(
                isinstance(v, str) and len(v) <= _MAX_TERM for v in value
            ):
                raise ValueError(f"{where}.{name} must be a list of short strings")
            if size is not None and len(value) != size:
                raise ValueError(f"{where}.{name} must hold {size} strings")
            return value

        if not isinstance(data, dict) or set(data) - set(cls.to_dict_keys()):
            raise ValueError(
                f"{where} must be an object with keys {list(cls.to_dict_keys())}"
            )
        tags = strings(data.get("tags"), "tags")
        if len(tags) > _MAX_TAGS:
            raise ValueError(f"{where}.tags holds more than {_MAX_TAGS} tags")
        supports = strings(data.get("supports", []), "supports")
        pairs = data.get("broader", [])
        if not isinstance(pairs, list):
            raise ValueError(f"{where}.broader must be a list of [tag, broader] pairs")
        broader = dict(strings(p, "broader[]", 2) for p in pairs)
        groups = data.get("exclusive", [])
        if not isinstance(groups, list):
            raise ValueError(f"{where}.exclusive must be a list of lists of tags")
        exclusive = [strings(g, "exclusive[]") for g in groups]
        counts = {}
        items = data.get("counts", [])
        if not isinstance(items, list):
            raise ValueError(f"{where}.counts must be a list of [tag, count] pairs")
        for item in items:
            if not (
                isinstance(item, list)
                and len(item) == 2
                and isinstance(item[0], str)
                and type(item[1]) is int
                and 0 <= item[1] < 2**53
            ):
                raise ValueError(f"{where}.counts must be [tag, count] pairs")
            counts[item[0]] = item[1]
        descriptions = {}
        items = data.get("descriptions", [])
        if not isinstance(items, list) or len(items) > _MAX_DESCRIPTIONS:
            raise ValueError(
                f"{where}.descriptions must be a list of at most "
                f"{_MAX_DESCRIPTIONS} [tags, text] pairs"
            )
        for item in items:
            if not (
                isinstance(item, list)
                and len(item) == 2
                and isinstance(item[1], str)
                and len(item[1]) <= _MAX_TERM * 8
            ):
                raise ValueError(f"{where}.descriptions must be [tags, text] pairs")
            descriptions[tuple(strings(item[0], "descriptions[][0]"))] = item[1]
        try:
            return cls(
                tags,
                supports,
                broader=broader,
                exclusive=exclusive,
                counts=counts,
                descriptions=descriptions,
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None

    @staticmethod
    def to_dict_keys():
        return ("tags", "supports", "broader", "exclusive", "counts", "descriptions")


# Bounds on a vocabulary read from a model file.
_MAX_TAGS = 4096
_MAX_TERM = 200
_MAX_DESCRIPTIONS = 100_000
# Deepest hierarchy of broader terms (artmedium's own is 3 deep).
_MAX_BROADER_DEPTH = 32


def _chain(tag, parent):
    """Broader terms of ``tag`` under the ``parent`` mapping, nearest first."""
    out, seen = [], set()
    while tag in parent and parent[tag] not in seen:
        tag = parent[tag]
        out.append(tag)
        seen.add(tag)
    return tuple(out)


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
    if vocab.broader:
        found = set(vocab.closure(found))
    return MediumTags(tuple(t for t in vocab.tags if t in found), tuple(unknown))


def unknown_terms(mediums, vocabulary=None):
    """Terms of the descriptions that a vocabulary has no tag for, with counts.

    What :func:`tag_matrix` cannot represent: a row of "Gouache on paper" under
    the poster's tags is all zeros because ``gouache`` is unknown.

    Parameters
    ----------
    mediums : iterable of str
        Medium descriptions.
    vocabulary : None, Vocabulary or sequence of str, default=None
        As in :func:`medium_to_tags`.

    Returns
    -------
    collections.Counter
        Unknown term -> number of descriptions that use it, most common first
        when iterated with ``most_common()``.

    Examples
    --------
    >>> unknown_terms(["Gouache on paper", "Gouache and graphite on paper",
    ...                "Graphite on paper"])
    Counter({'gouache': 2})
    """
    vocab = as_vocabulary(vocabulary)
    if isinstance(mediums, str):
        raise TypeError("mediums must be a list of descriptions, not one string")
    counts = Counter()
    for medium, n in Counter(mediums).items():
        for term in _tags_of(medium, vocab).unknown:
            counts[term] += n
    return counts


def tag_matrix(mediums, vocabulary=None, *, unknown="warn"):
    """Turn many medium descriptions into a 0/1 tag indicator matrix.

    Each distinct description is parsed once, so tens of thousands of rows with
    a few thousand distinct descriptions take well under a second. A tag
    implies its broader tags (a vocabulary with :attr:`Vocabulary.broader`).

    Parameters
    ----------
    mediums : iterable of str
        Medium descriptions.
    vocabulary : None, Vocabulary or sequence of str, default=None
        As in :func:`medium_to_tags`; None means :data:`POSTER_TAGS`.
    unknown : {"warn", "raise", "ignore"}, default="warn"
        What to do when descriptions use terms the vocabulary has no tag for
        (their rows lack those terms, "Gouache on paper" becomes all zeros
        under the poster's tags): one ``UserWarning`` naming the terms and
        how many descriptions use each, a ``ValueError``, or nothing
        (:func:`unknown_terms` lists them).

    Returns
    -------
    ndarray of shape (n_mediums, n_tags), dtype int
        ``[i, j] == 1`` when description ``i`` has tag ``j`` of the vocabulary.

    Examples
    --------
    >>> tag_matrix(["Oil paint on canvas", "Graphite on paper"], ["graphite", "canvas"],
    ...            unknown="ignore")
    array([[0, 1],
           [1, 0]])
    """
    if unknown not in ("warn", "raise", "ignore"):
        raise ValueError(
            f"unknown must be 'warn', 'raise' or 'ignore'; got {unknown!r}"
        )
    vocab = as_vocabulary(vocabulary)
    column = {tag: j for j, tag in enumerate(vocab.tags)}
    rows_of, missing = {}, Counter()
    mediums = list(mediums)
    out = np.zeros((len(mediums), len(vocab)), dtype=int)
    for i, medium in enumerate(mediums):
        known = rows_of.get(medium)
        if known is None:
            parsed = _tags_of(medium, vocab)
            known = rows_of[medium] = ([column[t] for t in parsed.tags], parsed.unknown)
        columns, unknown_here = known
        out[i, columns] = 1
        missing.update(unknown_here)
    if missing and unknown != "ignore":
        shown = ", ".join(f"{t!r} ({n})" for t, n in missing.most_common(8))
        more = f" and {len(missing) - 8} more" if len(missing) > 8 else ""
        message = (
            f"{len(missing)} term(s) of the descriptions are not tags of the "
            f"vocabulary and are left out of the tag matrix: {shown}{more} "
            "(descriptions using each). Grow the vocabulary with "
            "build_vocabulary, or pass unknown='ignore'."
        )
        if unknown == "raise":
            raise ValueError(message)
        warnings.warn(message, UserWarning, stacklevel=2)
    return out


def build_vocabulary(mediums, *, n_tags=10, min_count=1, broader=False):
    """Build a vocabulary of the most frequent terms in medium descriptions.

    Each description counts a term at most once; the default support ``paper``
    is not counted (every other description is on paper, so it tells nothing).
    A term is a support when it followed "on" in most of its occurrences.

    Parameters
    ----------
    mediums : iterable of str
        Medium descriptions, one per artwork (so frequent artworks weigh more).
    n_tags : int or None, default=10
        How many terms to keep, most frequent first; None keeps every term
        of at least ``min_count`` artworks (an open vocabulary).
    min_count : int, default=1
        Terms of fewer artworks are left out.
    broader : bool, default=False
        Also learn the structure of an open vocabulary: add the broader terms
        (:data:`BROADER`) of the kept terms as tags (so the vocabulary may hold
        more than ``n_tags``), make the supports and each group of
        :data:`EXCLUSIVE` exclusive, and record the catalogue's most frequent
        wording of each tag set (:meth:`Vocabulary.description`) and each
        tag's count.

    Returns
    -------
    Vocabulary
        The kept terms, most frequent first (ties alphabetically), then any
        broader terms added.

    Examples
    --------
    >>> mediums = ["Etching and aquatint on paper", "Etching on paper", "Oil on canvas"]
    >>> vocab = build_vocabulary(mediums, n_tags=2)
    >>> list(vocab)
    ['etching', 'aquatint']
    >>> build_vocabulary(["Oil paint on canvas"] * 2 + ["Etching on paper"]).supports
    frozenset({'canvas'})
    >>> vocab = build_vocabulary(mediums * 2 + ["Bronze"], n_tags=None, min_count=2,
    ...                          broader=True)
    >>> list(vocab)
    ['etching', 'aquatint', 'canvas', 'oil paint', 'intaglio print', 'print', 'paint']
    >>> vocab.description(["oil paint", "canvas"])
    'Oil on canvas'
    """
    check_count(n_tags, "n_tags", allow_none=True)
    check_count(min_count, "min_count", allow_none=False)
    if isinstance(mediums, str):
        raise TypeError("mediums must be a list of descriptions, not one string")
    counts, as_support = Counter(), Counter()
    distinct = Counter(mediums)
    for medium, n in distinct.items():
        media, supports = _parse(medium)
        terms = set(media) | set(supports)
        terms.discard(DEFAULT_SUPPORT)
        for term in terms:
            counts[term] += n
        for term in set(supports) - set(media):
            as_support[term] += n
    if not counts:
        raise ValueError("no medium terms found: all descriptions are empty")
    ranked = [
        t for t in sorted(counts, key=lambda t: (-counts[t], t))
        if counts[t] >= min_count
    ]  # fmt: skip
    if n_tags is not None:
        ranked = ranked[:n_tags]
    if not ranked:
        raise ValueError(f"no medium term occurs in min_count={min_count} descriptions")
    supports = [t for t in ranked if 2 * as_support[t] > counts[t]]
    if not broader:
        return Vocabulary(ranked, supports=supports)
    tags = list(ranked)
    for term in ranked:
        tags += [t for t in _chain(term, BROADER) if t not in tags]
    parent = {t: BROADER[t] for t in tags if t in BROADER}
    plain = Vocabulary(tags, supports=supports, broader=parent)
    top_supports = [t for t in supports if not set(plain.ancestors(t)) & set(supports)]
    groups = [top_supports] + [g & set(tags) for g in EXCLUSIVE]
    tag_counts, wording = Counter(), {}
    for medium, n in distinct.items():
        parsed = _tags_of(medium, plain)
        tag_counts.update(dict.fromkeys(parsed.tags, n))
        if parsed.tags and not parsed.unknown:
            spelled = wording.setdefault(plain.leaves(parsed.tags), Counter())
            spelled[" ".join(str(medium).split())] += n
    descriptions = {}
    for leaves, spelled in wording.items():
        by_form = Counter()
        for text, n in spelled.items():
            by_form[_normalize(text)] += n
        form = by_form.most_common(1)[0][0]
        descriptions[leaves] = max(
            (t for t in spelled if _normalize(t) == form), key=spelled.get
        )
    return Vocabulary(
        tags,
        supports=supports,
        broader=parent,
        exclusive=[g for g in groups if len(g) >= 2],
        counts=tag_counts,
        descriptions=descriptions,
    )


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

    A vocabulary learned by :func:`build_vocabulary` with ``broader=True``
    first gives the catalogue's own wording of the tag set, if it has one
    (:meth:`Vocabulary.description`). When the tags are exactly those of a
    poster class, that class is returned. Otherwise the description is
    composed from the most specific media tags in vocabulary order, "on" the
    support tags (canvas when present), else "on paper"; broader tags implied
    by narrower ones are not repeated.

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
    if vocab.broader:
        names = set(vocab.closure(names))
    if vocab.descriptions:
        wording = vocab.description(names)
        if wording is not None:
            return wording
    exact = _poster_lookup(vocab).get(frozenset(names))
    if exact is not None:
        return exact
    leaves = set(vocab.leaves(names))
    media = [t for t in vocab.tags if t in leaves and t not in vocab.supports]
    if not media:
        return ""
    supports = [t for t in vocab.tags if t in leaves and t in vocab.supports]
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


class AATTerm(NamedTuple):
    """A tag's Getty Art & Architecture Thesaurus concept (see :func:`aat_term`).

    Attributes
    ----------
    id : str
        The AAT id, e.g. ``"300053241"`` (``http://vocab.getty.edu/aat/<id>``).
    label : str
        The AAT's label of that concept.
    source : str
        Where the id was checked (a URL or ``owner/repository:path``).
    """

    id: str
    label: str
    source: str

    @property
    def uri(self):
        """The concept's Linked Open Data URI."""
        return f"http://vocab.getty.edu/aat/{self.id}"


_AAT_ID = re.compile(r"^3\d{8}$")


@cache
def _aat_table():
    text = resources.files("artmedium").joinpath("data", "aat.csv").read_text("utf-8")
    table = {}
    for row in csv.DictReader(io.StringIO(text)):
        tag, number = _normalize(row["tag"]), (row["aat_id"] or "").strip()
        if number:
            if not _AAT_ID.match(number):
                raise ValueError(f"artmedium/data/aat.csv: bad AAT id {number!r}")
            table[tag] = AATTerm(number, row["aat_term"].strip(), row["source"].strip())
    return MappingProxyType(table)


def aat_term(tag):
    """The Getty AAT concept of a media tag, where one was verified.

    Ids come from the table ``artmedium/data/aat.csv`` shipped with the package;
    each row names the public source its id was checked against. Tags without
    a verified id give None rather than a guess.

    Parameters
    ----------
    tag : str
        A tag name (case and whitespace do not matter).

    Returns
    -------
    AATTerm or None

    Examples
    --------
    >>> term = aat_term("no such medium")
    >>> term is None
    True
    """
    if not isinstance(tag, str):
        raise TypeError(f"tag must be a string, got {tag!r}")
    return _aat_table().get(_normalize(tag))

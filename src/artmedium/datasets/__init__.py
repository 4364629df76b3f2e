"""The Tate collection in one call, and the medium vocabulary.

:func:`load_tate` returns Tate thumbnails with their medium, media tags and artist
as a scikit-learn :class:`~sklearn.utils.Bunch`; :func:`fetch_tate` downloads the
metadata and thumbnails. :func:`load_labelled_images` reads your own labelled
images (a ``path,label`` CSV, :func:`load_labelled_csv`) or a Tate folder, as
``artmedium train`` does. :func:`medium_to_tags`, :func:`tags_to_medium`,
:func:`tag_matrix` and :func:`build_vocabulary` convert between Tate's free-text
medium descriptions and binary media tags.
"""

from artmedium.datasets._fetch import (
    TATE_METADATA_URL,
    DownloadFailure,
    FetchInterrupted,
    FetchResult,
    fetch_tate,
)
from artmedium.datasets._labels import load_labelled_csv, load_labelled_images
from artmedium.datasets._tate import load_tate
from artmedium.vocabulary import (
    POSTER_CLASSES,
    POSTER_TAGS,
    MediumTags,
    Vocabulary,
    build_vocabulary,
    medium_to_tags,
    tag_matrix,
    tags_to_medium,
    unknown_terms,
)

__all__ = [
    "POSTER_CLASSES",
    "POSTER_TAGS",
    "TATE_METADATA_URL",
    "DownloadFailure",
    "FetchInterrupted",
    "FetchResult",
    "MediumTags",
    "Vocabulary",
    "build_vocabulary",
    "fetch_tate",
    "load_labelled_csv",
    "load_labelled_images",
    "load_tate",
    "medium_to_tags",
    "tag_matrix",
    "tags_to_medium",
    "unknown_terms",
]

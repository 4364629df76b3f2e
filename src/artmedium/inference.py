"""Batch prediction over image files: the engine behind ``artmedium predict``.

:func:`collect_inputs` turns files, folders and glob patterns into a list of
inputs; :func:`predict_files` streams one result per input, in input order,
decoding images in threads (:func:`artmedium.io.iter_images`) and running the
model a batch at a time, so memory stays bounded whatever the number of files.
An unreadable file gives a result with an ``error`` and the others go on.
:class:`BatchPredictor` is the same engine with the batches exposed (what a
writer streaming output per batch, or a worker of a distributed job, needs).
"""

import fnmatch
import glob
import numbers
import os
import re

import numpy as np

from artmedium._validation import check_count
from artmedium.io import ImageReadError, iter_images

__all__ = [
    "IMAGE_EXTENSIONS",
    "BatchPredictor",
    "ImageInput",
    "collect_inputs",
    "predict_files",
]

#: File name extensions collected from directories (any case). Files named
#: explicitly, or matched by a glob, are always tried whatever their extension.
IMAGE_EXTENSIONS = (
    ".jpg",
    ".jpeg",
    ".jpe",
    ".png",
    ".tif",
    ".tiff",
    ".webp",
    ".bmp",
    ".gif",
)

_ON_ERROR = ("skip", "fail")

# The defaults of MediumClassifier.assess: an uncalibrated model may be given
# these (they change nothing), never others.
_CONFIDENCE = 0.9
_UNKNOWN_RATE = 0.05

# ------------------------------------------------------------------ inputs


class ImageInput:
    """One image to process, or a named input that matched nothing.

    Parameters
    ----------
    path : str
        The file, as named or found.
    error : str, optional
        Why nothing can be read (a pattern that matched no file), or None.

    Examples
    --------
    >>> ImageInput("scans/*.tif", "no file matches this pattern")
    ImageInput('scans/*.tif', error='no file matches this pattern')
    """

    __slots__ = ("error", "path")

    def __init__(self, path, error=None):
        self.path = path
        self.error = error

    def __repr__(self):
        error = "" if self.error is None else f", error={self.error!r}"
        return f"ImageInput({self.path!r}{error})"


def _has_image_extension(name):
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _walk(folder, recursive):
    """Image files of a folder, sorted; hidden files and folders are skipped."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        found.extend(
            os.path.join(root, f)
            for f in sorted(files)
            if not f.startswith(".") and _has_image_extension(f)
        )
    return found


def _listdir(folder):
    try:
        with os.scandir(folder or os.curdir) as entries:
            return sorted(entry.name for entry in entries)
    except OSError:  # unreadable or vanished: nothing to match there
        return []


def _isdir(path):
    return os.path.isdir(path or os.curdir)


def _glob(pattern):
    """What ``glob.glob(pattern, recursive=True)`` matches, each real folder once.

    ``glob`` follows symbolic links to folders, so links back up the tree make
    its expansion exponential (under ``**``, and under stacked ``*/*/*``).
    Here each part of the pattern visits every real folder (by
    ``os.path.realpath``) at most once, so the work is linear in the folders
    present. As in ``glob``: hidden names match only patterns that start with
    a dot, and a trailing separator matches folders only. A drive (Windows) and
    both separators where the system has two are understood.
    """
    drive, rest = os.path.splitdrive(pattern)
    separators = os.sep + (os.altsep or "")
    parts = [p for p in re.split(f"[{re.escape(separators)}]", rest) if p]
    folders_only = rest.endswith(tuple(separators))
    start = drive + (os.sep if rest[:1] and rest[0] in separators else "")
    found = []
    seen = [set() for _ in parts]  # real folders visited, per part

    def first_visit(folder, i):
        real = os.path.realpath(folder or os.curdir)
        if real in seen[i]:
            return False
        seen[i].add(real)
        return True

    def keep(path):
        if folders_only and not _isdir(path):
            return
        found.append(path)

    def names(folder, part):
        hidden_ok = part.startswith(".")
        return [
            n
            for n in _listdir(folder)
            if (hidden_ok or not n.startswith(".")) and fnmatch.fnmatch(n, part)
        ]

    def folders_below(folder, i):
        """``folder`` and every folder under it, following links, each once."""
        stack = [folder]
        while stack:
            current = stack.pop()
            if not first_visit(current, i):
                continue
            yield current
            for name in reversed(_listdir(current)):
                path = os.path.join(current, name)
                if not name.startswith(".") and _isdir(path):
                    stack.append(path)

    def expand(folder, i):
        if i == len(parts):
            if folder:  # "**" alone matches what is below, not "" itself
                keep(folder)
            return
        part, last = parts[i], i == len(parts) - 1
        if part == "**":
            for sub in folders_below(folder, i):
                if last:
                    for name in _listdir(sub):
                        if not name.startswith("."):
                            keep(os.path.join(sub, name))
                    if sub != folder:
                        continue
                expand(sub, i + 1)
            return
        if not first_visit(folder, i):
            return
        candidates = names(folder, part) if glob.has_magic(part) else [part]
        for name in candidates:
            path = os.path.join(folder, name)
            if last:
                if os.path.lexists(path):
                    keep(path)
            elif _isdir(path):
                expand(path, i + 1)

    expand(start, 0)
    return list(dict.fromkeys(found))


def collect_inputs(specs, *, recursive=False):
    """Expand files, folders and glob patterns into the list of inputs.

    A folder gives its files with an image extension (:data:`IMAGE_EXTENSIONS`,
    any case; hidden files skipped), in sorted order, and those of its subfolders
    with ``recursive``. A pattern with ``*``, ``?`` or ``[`` that names no
    existing file is expanded here (``**`` matches any depth), so quoted globs
    work on every shell; a pattern that matches nothing becomes an error entry.
    ``**`` follows links to folders but visits each real folder once, so links
    that point back up the tree cannot make the expansion explode. Any other
    path, existing or not, is tried as an image. Duplicates (the same real file
    under any name) are dropped, the first occurrence kept.

    Parameters
    ----------
    specs : iterable of str or os.PathLike
        What the user named.
    recursive : bool, default=False
        Search the subfolders of folders.

    Returns
    -------
    list of ImageInput
        ``path`` and ``error`` (None, or why nothing could be read).

    Examples
    --------
    >>> import os, tempfile
    >>> tmp = tempfile.mkdtemp()
    >>> for name in ("b.png", "a.JPG", "notes.txt"):
    ...     open(os.path.join(tmp, name), "w").close()
    >>> [os.path.basename(i.path) for i in collect_inputs([tmp])]
    ['a.JPG', 'b.png']
    >>> [i.error for i in collect_inputs([os.path.join(tmp, "*.gif")])]
    ['no file matches this pattern']
    """
    inputs, seen = [], set()

    def add(path, error=None):
        # The real path: a file reached through a link is not listed twice.
        key = os.path.realpath(path) if error is None else ("error", path)
        if key not in seen:
            seen.add(key)
            inputs.append(ImageInput(path, error))

    for spec in specs:
        spec = os.fspath(spec)
        if os.path.isdir(spec):
            for path in _walk(spec, recursive):
                add(path)
        elif not os.path.lexists(spec) and any(c in spec for c in "*?["):
            matches = sorted(_glob(spec))
            if not matches:
                add(spec, "no file matches this pattern")
            for match in matches:
                if os.path.isdir(match):
                    for path in _walk(match, recursive):
                        add(path)
                else:
                    add(match)
        else:
            add(spec)
    return inputs


def _as_input(item):
    if isinstance(item, ImageInput):
        return item
    return ImageInput(os.fspath(item))


# ------------------------------------------------------------------ prediction


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _row(path, medium, probability, top_k, error="", assessment=None):
    """A result dict; ``assessment`` (status, candidates, novelty) follows the
    probability when the model is calibrated."""
    row = {"path": path, "medium": medium, "probability": probability}
    if assessment is not None:
        row.update(assessment)
    row.update(top_k=top_k, tags=[], aat_ids={}, tag_probabilities={}, error=error)
    return row


# What an error row of a calibrated predictor says about trust: nothing.
_NO_ASSESSMENT = {"status": None, "candidates": [], "novelty": None}


def _check_fraction(value, name, *, low_open, high_open):
    """``value`` as a float in the interval from 0 to 1 (ends as told)."""
    low, high = "(" if low_open else "[", ")" if high_open else "]"
    interval = f"{low}0, 1{high}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    value = float(value)
    below = value <= 0 if low_open else value < 0
    above = value >= 1 if high_open else value > 1
    if not np.isfinite(value) or below or above:
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return value


def _batches(inputs, *, batch_size, workers, min_size, max_pixels, transform=None):
    """``entries`` per batch: ``(path, image or error text)`` in input order,
    ``batch_size`` inputs each (the last fewer), readable or not."""
    readable = [i for i, item in enumerate(inputs) if item.error is None]
    stream = iter_images(
        (inputs[i].path for i in readable),
        n_jobs=workers,
        # A whole batch decodes while the network runs on the one before:
        # with 2 * workers ahead only, the decoding threads waited for the
        # network and the network for them (#17: 0.9 s of 5.6 s waiting).
        prefetch=batch_size + 2 * workers,
        min_size=min_size,
        max_pixels=max_pixels,
        transform=transform,
    )
    entries, next_input = [], 0
    for j, item in stream:
        position = readable[j]
        # Inputs that matched nothing keep their place among the others.
        while next_input < position:
            entries.append((inputs[next_input].path, inputs[next_input].error))
            next_input += 1
        next_input = position + 1
        if isinstance(item, ImageReadError):
            entries.append((inputs[position].path, item.reason))
        else:
            entries.append((inputs[position].path, item))
        # Batch k is always inputs k * batch_size onwards, whichever of them
        # are unreadable: an image's batch neighbours, and so the last bits of
        # its results (BLAS sums depend on the batch), never depend on files
        # elsewhere, and a part of the inputs starting at a multiple of
        # batch_size (a Dask partition) is batched as in the whole run.
        while len(entries) >= batch_size:
            yield entries[:batch_size]
            entries = entries[batch_size:]
    for rest in inputs[next_input:]:
        entries.append((rest.path, rest.error))
    for start in range(0, len(entries), batch_size):
        yield entries[start : start + batch_size]


# A tagger's answer is ok when every claim reaches --confidence: no accuracy
# threshold of the calibration answers enters it.
_TAGGER_ACCEPT_ACCURACY = (
    "accept_accuracy applies to a MediumClassifier only: a MediumTagger's status "
    "is ok when every claim of its answer (each tag present, each other tag "
    "absent) has at least the probability confidence; raise confidence instead"
)


def _aat_ids(tag_names):
    """Tag -> its verified Getty AAT id, for the tags that have one."""
    from artmedium.vocabulary import aat_term

    terms = {t: aat_term(t) for t in tag_names}
    return {t: term.id for t, term in terms.items() if term is not None}


def _not_calibrated(model, asked):
    """Why ``asked`` (option names) cannot apply to ``model``, and the way out."""
    what = " and ".join(asked)
    kind = type(model).__name__
    if kind in ("MediumClassifier", "MediumTagger"):
        why = (
            "this model is not calibrated"
            if kind == "MediumClassifier"
            else "this tagger is not calibrated"
        )
        y = "y_held_out" if kind == "MediumClassifier" else "Y_held_out"
        how = (
            f"fit a {kind} with calibration_size (e.g. 0.2), or call "
            f"{kind}.calibrate(X_held_out, {y}), and save it again"
        )
    else:
        why = f"a {kind} has no calibration"
        how = "use a MediumClassifier fitted with calibration_size (e.g. 0.2)"
    return f"{what} needs a calibrated model, but {why}: {how}"


class BatchPredictor:
    """Predict the medium of image files with a fitted model, batch by batch.

    Parameters
    ----------
    model : MediumClassifier, MediumTagger, str or os.PathLike
        A fitted image model, or a folder saved by
        :func:`~artmedium.persistence.save_model` (``"default"``: the embedded
        classifier; ``"tags"``: the embedded tagger), loaded on the CPU.
    top_k : int, default=3
        How many most probable media to list per image (at most the number of
        classes, or of tag combinations for a tagger).
    tags : bool, default=True
        Report the media tags, their Getty AAT ids and their probabilities.
    confidence : float in (0, 1), default=0.9
        A calibrated model only. A classifier: confidence level of the
        candidate sets (see :meth:`MediumClassifier.assess
        <artmedium.MediumClassifier.assess>`); a tagger: the probability every
        claim of an ``"ok"`` answer reaches, below which it backs off to
        broader tags (see :meth:`MediumTagger.assess
        <artmedium.MediumTagger.assess>`).
    accept_accuracy : float in (0, 1] or None, default=None
        A calibrated classifier only: call an answer ``"ok"`` only when its
        probability reaches the threshold at which the calibration answers
        were this accurate (as well as its set holding one medium). None: the
        set alone decides. Refused for a tagger, whose status uses
        ``confidence``.
    unknown_rate : float in [0, 1), default=0.05
        A calibrated model only: the share of calibration images (of the
        known media) that would be marked ``"unknown"``. For a tagger, 0 marks
        nothing unknown and reports no novelty.

    Attributes
    ----------
    model : MediumClassifier or MediumTagger
        The fitted model.
    calibrated : bool
        The model is a :class:`~artmedium.MediumClassifier` with a calibration
        (``calibration_``) or a :class:`~artmedium.MediumTagger` with tag
        temperatures (``tag_temperatures_``): each result then has
        ``status``, ``candidates`` and ``novelty``, and its probabilities are
        calibrated.
    confidence, accept_accuracy, unknown_rate
        As given, checked.
    preprocessing : artmedium.io.Preprocessing
        How the model prepares images (gives the decode size).
    top_k : int
        Alternatives listed per image: ``min(top_k, number of choices)``.
    tag_names : list of str
        The tags each result reports (empty when ``tags=False``).
    implied_tags : dict
        Each medium a result can name (a classifier's classes, a tagger's tag
        combinations) -> the tags it implies, in ``tag_names`` order: the
        ``tags`` of a result naming that medium (empty lists when
        ``tags=False``). A tagger decoding tags one by one
        (``decode="independent"``), or a calibrated one backing off to
        broader tags, can also name a combination not listed here.

    Raises
    ------
    ValueError
        The model was fitted on 2-D features and cannot read images;
        ``confidence``, ``accept_accuracy`` or ``unknown_rate`` is out of its
        range, or is set (``accept_accuracy``, or another value than the
        default for the other two) for a model that is not calibrated;
        ``accept_accuracy`` is set for a tagger.

    Examples
    --------
    See :func:`predict_files`, which wraps :meth:`predict_batches`.
    """

    def __init__(
        self,
        model,
        *,
        top_k=3,
        tags=True,
        confidence=_CONFIDENCE,
        accept_accuracy=None,
        unknown_rate=_UNKNOWN_RATE,
    ):
        from artmedium.vocabulary import POSTER_TAGS

        check_count(top_k, "top_k")
        self.confidence = _check_fraction(
            confidence, "confidence", low_open=True, high_open=True
        )
        if accept_accuracy is not None:
            accept_accuracy = _check_fraction(
                accept_accuracy, "accept_accuracy", low_open=True, high_open=False
            )
        self.accept_accuracy = accept_accuracy
        self.unknown_rate = _check_fraction(
            unknown_rate, "unknown_rate", low_open=False, high_open=True
        )
        if isinstance(model, str | os.PathLike):
            from artmedium.persistence import load_model

            model = load_model(model)
        if hasattr(model, "get_params"):  # an estimator, not an ONNX model
            from sklearn.utils.validation import check_is_fitted

            check_is_fitted(model)
        prep = model.preprocessing_
        if prep is None:
            raise ValueError(
                "this model was fitted on 2-D features, not images: it cannot read "
                "image files"
            )
        self.model = model
        self.preprocessing = prep
        # A MediumTagger or an OnnxTagger; else a MediumClassifier or an
        # OnnxClassifier (same attributes, same answers).
        self._is_tagger = hasattr(model, "combinations_")
        if self._is_tagger and self.accept_accuracy is not None:
            raise ValueError(_TAGGER_ACCEPT_ACCURACY)
        if self._is_tagger:
            self.calibrated = getattr(model, "tag_temperatures_", None) is not None
        else:
            self.calibrated = getattr(model, "calibration_", None) is not None
        if not self.calibrated:
            asked = [
                name
                for name, value, default in (
                    ("confidence", self.confidence, _CONFIDENCE),
                    ("accept_accuracy", self.accept_accuracy, None),
                    ("unknown_rate", self.unknown_rate, _UNKNOWN_RATE),
                )
                if value != default
            ]
            if asked:
                raise ValueError(_not_calibrated(model, asked))
        if self._is_tagger:
            self.tag_names = [str(t) for t in model.tag_names_]
            self._combinations = np.asarray(model.combinations_)
            self._combination_names = self._describe(self._combinations)
            self.implied_tags = {
                name: [t for t, on in zip(self.tag_names, row) if on]
                for name, row in zip(self._combination_names, self._combinations)
            }
            n_choices = len(self._combinations)
        else:
            from artmedium._class_tags import class_tag_probabilities

            self._classes = model.classes_
            membership = class_tag_probabilities(
                np.eye(len(self._classes)), list(self._classes)
            )
            self._tag_columns = np.flatnonzero(membership.any(axis=0))
            self.tag_names = [POSTER_TAGS[j] for j in self._tag_columns]
            # A row's tags are those of its medium, never a threshold on the
            # marginals: "Graphite on paper" with P(graphite) = 0.45 (the rest
            # spread over other classes) is still tagged graphite.
            self._class_tags = [
                [POSTER_TAGS[j] for j in self._tag_columns if membership[i, j]]
                for i in range(len(self._classes))
            ]
            self.implied_tags = {
                str(c): tags for c, tags in zip(self._classes, self._class_tags)
            }
            n_choices = len(self._classes)
        # Only verified ids, never a guess (artmedium.vocabulary.aat_term).
        self._aat = _aat_ids(self.tag_names)
        if not tags:
            self.tag_names = []
            self.implied_tags = {medium: [] for medium in self.implied_tags}
        self.top_k = min(top_k, n_choices)

    def _aat_of(self, tags):
        """Tag -> Getty AAT id, for those of ``tags`` that have a verified one."""
        return {t: self._aat[t] for t in tags if t in self._aat}

    def _describe(self, Y):
        """A tagger's descriptions of 0/1 tag rows, in its own vocabulary's
        wording (:meth:`MediumTagger.describe <artmedium.MediumTagger.describe>`)."""
        return [str(m) for m in self.model.describe(Y)]

    def _error_row(self, path, error):
        assessment = dict(_NO_ASSESSMENT) if self.calibrated else None
        return _row(path, None, None, [], error=error, assessment=assessment)

    def predict_images(self, paths, images):
        """Result dicts for decoded images (what :func:`predict_files` yields).

        Parameters
        ----------
        paths : list of str
            The name reported for each image.
        images : list
            The images, anything the model's ``predict_proba`` accepts.

        Returns
        -------
        list of dict
            One result per image, ``error`` empty.
        """
        if self._is_tagger:
            return self._tagger_rows(paths, images)
        return self._classifier_rows(paths, images)

    def predict_batches(
        self, inputs, *, batch_size=32, workers=2, on_error="skip", max_pixels=None
    ):
        """Yield the results of ``inputs`` as lists, one list per batch, in order.

        Parameters
        ----------
        inputs : iterable of str, os.PathLike or ImageInput
            The image files, e.g. from :func:`collect_inputs`.
        batch_size : int, default=32
            Inputs per yielded list, and per forward pass (of those that
            could be read). Batches are positional: the k-th is always
            inputs ``k * batch_size`` onwards, so an unreadable file never
            moves another image into a different batch.
        workers : int, default=2
            Image decoding threads.
        on_error : {"skip", "fail"}, default="skip"
            ``"skip"``: an unreadable input gets a result with its ``error`` and
            the rest go on. ``"fail"``: the results before it are yielded, then
            :class:`~artmedium.io.ImageReadError` is raised, naming it.
        max_pixels : int, optional
            Refuse images with more pixels (default: Pillow's limit).

        Yields
        ------
        list of dict
            The results of consecutive inputs (a list may be empty just before
            an ``on_error="fail"`` error).
        """
        check_count(batch_size, "batch_size")
        check_count(workers, "workers")
        if on_error not in _ON_ERROR:
            raise ValueError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}")
        inputs = [_as_input(item) for item in inputs]
        # An ONNX model takes prepared arrays: the decoding threads prepare
        # them, while the main thread runs the network (#17).
        prepared = getattr(self.model, "takes_prepared_images", False)
        for entries in _batches(
            inputs,
            batch_size=batch_size,
            workers=workers,
            min_size=self.preprocessing.min_decode_size,
            max_pixels=max_pixels,
            transform=self.preprocessing.array if prepared else None,
        ):
            failure = None
            if on_error == "fail":
                bad = next((e for e in entries if isinstance(e[1], str)), None)
                if bad is not None:
                    entries = entries[: entries.index(bad)]
                    failure = ImageReadError(bad[0], bad[1])
            good = [(p, im) for p, im in entries if not isinstance(im, str)]
            predicted = iter(self._rows_or_errors(good))
            yield [
                self._error_row(path, item)
                if isinstance(item, str)
                else next(predicted)
                for path, item in entries
            ]
            if failure is not None:
                raise failure

    def _rows_or_errors(self, good):
        """Rows of ``(path, image)`` pairs; an image the model fails on gets an
        error row and never takes the rest of its batch down with it."""
        if not good:
            return []
        try:
            return self.predict_images([p for p, _ in good], [im for _, im in good])
        except (ValueError, RuntimeError, MemoryError) as exc:
            if len(good) == 1:
                (path, _), reason = good[0], str(exc).splitlines()[-1].strip()
                return [self._error_row(path, f"cannot predict: {reason}")]
        # Which image failed? Each alone: the good ones keep their results.
        return [row for pair in good for row in self._rows_or_errors([pair])]

    def _classifier_rows(self, paths, images):
        from artmedium._class_tags import class_tag_probabilities

        if self.calibrated:
            # One pass gives the calibrated probabilities and the rest.
            answers = self.model.assess(
                images,
                confidence=self.confidence,
                accept_accuracy=self.accept_accuracy,
                unknown_rate=self.unknown_rate,
            )
            proba = np.asarray(answers.proba)
        else:
            proba = self.model.predict_proba(images)
        ranking = np.argsort(-proba, axis=1, kind="stable")
        order = ranking[:, : self.top_k]
        if self.tag_names:
            tag_proba = class_tag_probabilities(proba, list(self._classes))
            tag_proba = tag_proba[:, self._tag_columns]
        rows = []
        for i, path in enumerate(paths):
            top = [
                {"medium": _plain(self._classes[j]), "probability": float(proba[i, j])}
                for j in order[i]
            ]
            assessment = None
            if self.calibrated:
                assessment = {
                    "status": str(answers.status[i]),
                    # The set's media, most probable first.
                    "candidates": [
                        _plain(self._classes[j])
                        for j in ranking[i]
                        if answers.sets[i, j]
                    ],
                    "novelty": float(answers.novelty[i]),
                }
            row = _row(
                path,
                top[0]["medium"],
                top[0]["probability"],
                top,
                assessment=assessment,
            )
            if self.tag_names:
                row["tag_probabilities"] = {
                    t: float(p) for t, p in zip(self.tag_names, tag_proba[i])
                }
                row["tags"] = list(self._class_tags[order[i, 0]])
                row["aat_ids"] = self._aat_of(row["tags"])
            rows.append(row)
        return rows

    def _tagger_rows(self, paths, images):
        est = self.model
        answers = None
        if self.calibrated:
            # One pass gives the calibrated probabilities, the answers after
            # backing off, their status and novelty (0: no novelty asked for).
            answers = est.assess(
                images,
                confidence=self.confidence,
                unknown_rate=self.unknown_rate or None,
            )
            proba = np.asarray(answers.proba, dtype=float)
            chosen = np.asarray(answers.tags)
            media = [str(m) for m in answers.medium]
            combo_p = np.asarray(answers.combination_proba, dtype=float)
        elif getattr(est, "mode", None) == "powerset":
            # The combination model's own probabilities; predict's argmax.
            combo_p = est.combination_proba(images)
            proba = combo_p @ self._combinations
            chosen = self._combinations[np.argmax(combo_p, axis=1)]
            media = self._describe(chosen)
        else:
            proba = np.asarray(est.predict_proba(images), dtype=float)
            # The decoding MediumTagger.predict applies, on probabilities in hand.
            chosen = est.decode_proba(proba)
            media = self._describe(chosen)
            combo_p = None
        p = np.clip(proba, 1e-12, 1 - 1e-12)
        log_on, log_off = np.log(p), np.log1p(-p)
        if combo_p is None:
            # P(tag set) under independent tags, for each valid combination.
            combo_p = np.exp(
                log_on @ self._combinations.T + log_off @ (1 - self._combinations).T
            )
        order = np.argsort(-combo_p, axis=1, kind="stable")[:, : self.top_k]
        names = [str(t) for t in est.tag_names_]
        rows = []
        for i, path in enumerate(paths):
            on = [t for t, c in zip(names, chosen[i]) if c]
            top = [
                {
                    "medium": self._combination_names[j],
                    "probability": float(combo_p[i, j]),
                }
                for j in order[i]
            ]
            assessment = None
            if answers is None and getattr(est, "mode", None) == "powerset":
                prob = float(combo_p[i].max())
            elif answers is None:
                prob = float(
                    np.exp(np.where(chosen[i] == 1, log_on[i], log_off[i]).sum())
                )
            else:
                # The probability of the answer's least sure claim.
                prob = float(answers.confidence[i])
                # The tagger's candidates: the combination model's conformal
                # set, else the answer and what it backed off from.
                candidates = [str(m) for m in answers.candidates[i]]
                novelty = answers.novelty
                assessment = {
                    "status": str(answers.status[i]),
                    "candidates": [m for m in dict.fromkeys(candidates) if m],
                    "novelty": None if novelty is None else float(novelty[i]),
                }
            row = _row(path, media[i], prob, top, assessment=assessment)
            if self.tag_names:
                # The medium is named from these tags: the two always agree.
                row["tags"] = on
                row["aat_ids"] = self._aat_of(on)
                row["tag_probabilities"] = {
                    t: float(v) for t, v in zip(names, proba[i])
                }
            rows.append(row)
        return rows


def predict_files(
    model,
    inputs,
    *,
    top_k=3,
    tags=True,
    confidence=_CONFIDENCE,
    accept_accuracy=None,
    unknown_rate=_UNKNOWN_RATE,
    batch_size=32,
    workers=2,
    on_error="skip",
    max_pixels=None,
):
    """Predict the medium of image files, yielding one result per input, in order.

    Images are decoded ahead in ``workers`` threads and predicted ``batch_size``
    at a time, so results stream out and memory stays bounded.

    Parameters
    ----------
    model : MediumClassifier, MediumTagger, str or os.PathLike
        A fitted image model, or a saved model folder (``"default"``: the
        embedded classifier; ``"tags"``: the embedded tagger).
    inputs : iterable of str, os.PathLike or ImageInput
        The image files, e.g. from :func:`collect_inputs`.
    top_k : int, default=3
        How many most probable media to list per image.
    tags : bool, default=True
        Report the media tags, their Getty AAT ids and their probabilities.
    confidence : float in (0, 1), default=0.9
        A calibrated model only. A classifier: confidence level of the
        candidate sets; a tagger: the probability every claim of an ``"ok"``
        answer reaches (below it, a tag backs off to a broader one).
    accept_accuracy : float in (0, 1] or None, default=None
        A calibrated classifier only: ``"ok"`` also needs a probability at
        least the threshold at which the calibration answers were this
        accurate. None: an answer is ``"ok"`` when its set holds one medium.
        Refused for a tagger.
    unknown_rate : float in [0, 1), default=0.05
        A calibrated model only: the share of calibration images (of the
        known media) that would be marked ``"unknown"`` (a tagger: 0 marks
        nothing unknown and reports no novelty).
    batch_size : int, default=32
        Inputs per forward pass (the unreadable ones leave their place empty).
    workers : int, default=2
        Image decoding threads.
    on_error : {"skip", "fail"}, default="skip"
        ``"skip"``: an unreadable input yields a result with its ``error`` and
        the rest go on. ``"fail"``: raise :class:`~artmedium.io.ImageReadError`,
        naming the file, once the results before it are yielded.
    max_pixels : int, optional
        Refuse images with more pixels (default: Pillow's limit).

    Yields
    ------
    dict
        ``path``; ``medium`` and its ``probability`` (None for an error);
        ``top_k``, a list of ``{"medium", "probability"}``, most probable first;
        ``tags``, the tags of the reported medium (a classifier: those its
        predicted class implies; a tagger: the decoded tag set that names the
        medium), so that they always agree with ``medium``;
        ``tag_probabilities``, tag -> the probability that the tag is present
        (a classifier: the total probability of the classes with that tag), so
        a tag of the medium can have a probability under 0.5 and another tag
        one over it; ``aat_ids``, tag -> Getty AAT id for the ``tags`` that
        have a verified one (:func:`artmedium.vocabulary.aat_term`); all three
        empty with ``tags=False``; ``error``, ``""`` when the image was read.

        A calibrated classifier (``calibration_`` set: fitted with
        ``calibration_size``, or after :meth:`MediumClassifier.calibrate
        <artmedium.MediumClassifier.calibrate>`) gives calibrated
        probabilities and three more keys, the same in every result (None,
        ``[]`` and None for an error): ``status``, ``"ok"`` (an answer to
        accept), ``"uncertain"`` (the candidates are not exactly one medium,
        or, with ``accept_accuracy``, the probability is too low) or
        ``"unknown"`` (unlike the media the model knows); ``candidates``, the
        conformal prediction set, most probable first (it holds the true
        medium with probability ``confidence`` for images like the
        calibration images; less on new artists), maybe empty; ``novelty``,
        how unlike the calibration images the image is.

        A calibrated tagger (``tag_temperatures_`` set: fitted with
        ``calibration_size``, or after :meth:`MediumTagger.calibrate
        <artmedium.MediumTagger.calibrate>`) gives the same three keys from
        :meth:`MediumTagger.assess <artmedium.MediumTagger.assess>`, once
        per batch: its ``medium`` is the answer after backing off to broader
        tags where a tag is below ``confidence`` ("Etching on paper" ->
        "Intaglio print on paper"), and ``tags`` are that answer's (broader
        tags included); its ``probability`` is the probability of the
        answer's least sure claim (a tag present, or another absent);
        ``status`` is ``"ok"`` when that reaches ``confidence``,
        ``"uncertain"`` otherwise, ``"unknown"`` as for a classifier;
        ``candidates`` are, for a ``mode="powerset"`` tagger (the embedded
        one), the descriptions of its combination model's conformal set
        (as a classifier's), else the answer followed, when it backed off,
        by the more specific description it backed off from (empty when
        neither names a medium); ``novelty`` is None when the tagger keeps no
        reference features. ``top_k`` ranks the tag combinations seen in
        training by their probability (a powerset tagger's own, else as if
        tags were independent), so it may not list a broader answer.
        Other models give none of the three.

    Raises
    ------
    ValueError
        A bad option (see :class:`BatchPredictor`), such as ``accept_accuracy``
        for a model that is not calibrated.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from artmedium import MediumClassifier
    >>> from artmedium.inference import collect_inputs, predict_files
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, size=(6, 32, 32, 3), dtype=np.uint8)
    >>> y = ["Graphite on paper", "Oil paint on canvas"] * 3
    >>> clf = MediumClassifier(backbone="simple_cnn", weights=None, image_size=32,
    ...                        max_epochs=1, random_state=0).fit(X, y)
    >>> folder = tempfile.mkdtemp()
    >>> for i in range(3):
    ...     Image.fromarray(X[i]).save(os.path.join(folder, f"scan{i}.png"))
    >>> open(os.path.join(folder, "broken.png"), "wb").close()
    >>> for r in predict_files(clf, collect_inputs([folder]), top_k=2):
    ...     print(os.path.basename(r["path"]), r["medium"] in clf.classes_,
    ...           len(r["top_k"]), sorted(r["tag_probabilities"]), repr(r["error"]))
    broken.png False 0 [] 'empty (0 bytes)'
    scan0.png True 2 ['canvas', 'graphite', 'oil paint'] ''
    scan1.png True 2 ['canvas', 'graphite', 'oil paint'] ''
    scan2.png True 2 ['canvas', 'graphite', 'oil paint'] ''
    """
    predictor = BatchPredictor(
        model,
        top_k=top_k,
        tags=tags,
        confidence=confidence,
        accept_accuracy=accept_accuracy,
        unknown_rate=unknown_rate,
    )
    for rows in predictor.predict_batches(
        inputs,
        batch_size=batch_size,
        workers=workers,
        on_error=on_error,
        max_pixels=max_pixels,
    ):
        yield from rows

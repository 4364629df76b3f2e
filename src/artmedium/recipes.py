"""Named training recipes for :class:`~artmedium.MediumClassifier`: written once.

A recipe is the set of constructor parameters behind a result we report. The
default, ``"lite0-finetune"``, is the recipe of the embedded default model, of
``MediumClassifier()``'s own defaults and of ``artmedium train``'s; the others
are the baselines of benchmarks/RESULTS.md. Tests check that the three users of
the default recipe agree, so it cannot drift.

This module is data only (no torch import), so the command line reads its
defaults from here without slowing ``--help``.

Examples
--------
>>> from artmedium.recipes import RECIPES, recipe
>>> recipe("lite0-finetune")["freeze"]
2
>>> sorted(RECIPES)
['lite0-finetune', 'lite0-frozen', 'lite0-texture', 'resnet18-112', 'simple-cnn-128']
"""

from types import MappingProxyType

__all__ = [
    "BALANCE",
    "DEFAULT_RECIPE",
    "RECIPES",
    "recipe",
    "recipe_balance",
    "tagger_recipe",
]

#: The recipe of the embedded model and of ``MediumClassifier()``.
DEFAULT_RECIPE = "lite0-finetune"

RECIPES = MappingProxyType(
    {
        # EfficientNet-Lite0 from ImageNet, its last two stages and a linear head
        # fine-tuned on cached activations of the frozen stages (flips on the
        # maps): .817 / balanced .624 on a random split of the poster's ten.
        "lite0-finetune": MappingProxyType(
            {
                "backbone": "efficientnet_lite0",
                "weights": "auto",
                "freeze": 2,
                "augment": True,
                "optimizer": "adam",
                "lr": 3e-4,
                "weight_decay": 1e-4,
                "dropout": 0.2,
                "max_epochs": 8,
                "batch_size": 32,
            }
        ),
        # The same backbone frozen, pooled as texture (the global average and the
        # mean and sd of the two stages before it), a linear head on cached
        # features with balanced class weights. Over 5 folds: .799 / balanced
        # .642 random, .558 / .421 on unseen artists (about 5 points over the
        # average-pooled frozen head there), with a 13 s head once features are
        # cached; below "lite0-finetune" in accuracy (benchmarks/RESULTS.md, #14).
        "lite0-texture": MappingProxyType(
            {
                "backbone": "efficientnet_lite0",
                "weights": "auto",
                "freeze": "backbone",
                "pooling": "texture",
                "augment": True,
                "optimizer": "adam",
                "lr": 1e-3,
                "weight_decay": 1e-3,
                "class_weight": "balanced",
                "dropout": 0.2,
                "max_epochs": 30,
                "batch_size": 64,
            }
        ),
        # The same backbone frozen: a linear head on cached pooled features.
        "lite0-frozen": MappingProxyType(
            {
                "backbone": "efficientnet_lite0",
                "weights": "auto",
                "freeze": "backbone",
                "augment": True,
                "optimizer": "adam",
                "lr": 1e-3,
                "weight_decay": 1e-4,
                "max_epochs": 40,
                "batch_size": 64,
            }
        ),
        # The poster's baseline from scratch; 128 px and 8 epochs fit 2 CPU cores.
        "simple-cnn-128": MappingProxyType(
            {
                "backbone": "simple_cnn",
                "weights": None,
                "freeze": "none",
                "image_size": 128,
                "augment": True,
                "optimizer": "adam",
                "lr": 1e-3,
                "max_epochs": 8,
                "batch_size": 32,
            }
        ),
        # ResNet18 from random weights (no ImageNet weights can be fetched offline).
        "resnet18-112": MappingProxyType(
            {
                "backbone": "resnet18",
                "weights": None,
                "freeze": "none",
                "image_size": 112,
                "augment": True,
                "optimizer": "adam",
                "lr": 1e-3,
                "max_epochs": 4,
                "batch_size": 32,
            }
        ),
    }
)


#: How a recipe weighs its training images: the ``balance`` option of
#: :func:`artmedium.model_selection.balanced_sample_weight` (with the artists as
#: groups), or None for unweighted. Not a constructor parameter: ``fit`` takes it
#: as ``sample_weight``, and ``artmedium train`` / ``evaluate --cv`` apply it. No
#: recipe weighs artists yet: on the Tate sample, weights that balance artists
#: did not help on artists never seen in training (benchmarks/RESULTS.md).
BALANCE = MappingProxyType({})


def recipe_balance(name=DEFAULT_RECIPE):
    """How recipe ``name`` weighs its training images (:data:`BALANCE`).

    Parameters
    ----------
    name : str, default=DEFAULT_RECIPE
        A key of :data:`RECIPES`.

    Returns
    -------
    str or None
        A ``balance`` option of
        :func:`~artmedium.model_selection.balanced_sample_weight`, or None.

    Raises
    ------
    ValueError
        Unknown recipe name.

    Examples
    --------
    >>> from artmedium.recipes import recipe_balance
    >>> recipe_balance("lite0-texture") is None
    True
    """
    recipe(name)  # the same check and message for an unknown name
    return BALANCE.get(name)


def recipe(name=DEFAULT_RECIPE, **overrides):
    """The parameters of a named recipe, as a new dict, with ``overrides``.

    Parameters
    ----------
    name : str, default="lite0-finetune"
        A key of :data:`RECIPES`.
    **overrides
        Parameters replacing the recipe's (any ``MediumClassifier`` parameter).

    Returns
    -------
    dict
        ``MediumClassifier(**recipe(name))`` trains that recipe.

    Raises
    ------
    ValueError
        Unknown recipe name.

    Examples
    --------
    >>> from artmedium.recipes import recipe
    >>> recipe("lite0-frozen", max_epochs=5)["max_epochs"]
    5
    """
    try:
        params = dict(RECIPES[name])
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown recipe {name!r}; available: {', '.join(sorted(RECIPES))}"
        ) from None
    params.update(overrides)
    return params


def tagger_recipe(vocabulary, *, memory=None, n_jobs=None, random_state=0):
    """The embedded tagger's recipe: a label-powerset :class:`~artmedium.MediumTagger`.

    One :class:`~artmedium.MediumClassifier` of the default recipe
    (:data:`DEFAULT_RECIPE`, fine-tuned on the images) over the tag
    combinations of ``vocabulary`` seen in training, calibrated on 20 % of the
    training images held out. On the Tate sample this beat one classifier per
    tag on frozen features by about 10 points of exact match
    (benchmarks/RESULTS.md, #16).

    Parameters
    ----------
    vocabulary : Vocabulary
        The tags, with their structure (``build_vocabulary(..., broader=True)``).
    memory : str, joblib.Memory or None, default=None
        Feature cache of the classifier.
    n_jobs : int or None, default=None
        Image decoding workers of the classifier.
    random_state : int, default=0

    Returns
    -------
    MediumTagger
        Unfitted.

    Examples
    --------
    >>> from artmedium.recipes import tagger_recipe
    >>> from artmedium.vocabulary import build_vocabulary
    >>> vocab = build_vocabulary(["Etching on paper", "Oil paint on canvas"],
    ...                          n_tags=None, broader=True)
    >>> tagger = tagger_recipe(vocab)
    >>> tagger.mode, tagger.estimator.freeze
    ('powerset', 2)
    """
    from artmedium.estimators import MediumClassifier, MediumTagger

    classifier = MediumClassifier(
        **recipe(DEFAULT_RECIPE),
        memory=memory,
        n_jobs=n_jobs,
        random_state=random_state,
    )
    return MediumTagger(
        mode="powerset",
        embedder="passthrough",
        estimator=classifier,
        tag_names=vocabulary,
        calibration_size=0.2,
        random_state=random_state,
    )

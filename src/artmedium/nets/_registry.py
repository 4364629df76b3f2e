"""Backbones by name: what estimators store instead of live modules."""

from artmedium.nets._base import Backbone

_REGISTRY = {}


def register_backbone(name, factory=None, *, overwrite=False):
    """Register a backbone factory under ``name``.

    Usable as a plain call or as a decorator. The factory is called as
    ``factory(weights=weights)`` and must return a fresh :class:`Backbone`.

    Parameters
    ----------
    name : str
        Registry name, as passed to :func:`get_backbone`.
    factory : callable or None, default=None
        ``factory(*, weights) -> Backbone``. None returns a decorator.
    overwrite : bool, default=False
        Replace an existing registration instead of raising.

    Returns
    -------
    factory : callable
        The factory (or, without one, a decorator that registers and returns it).

    Raises
    ------
    ValueError
        ``name`` is already registered and ``overwrite`` is False, or is empty.

    Notes
    -----
    A new backbone subclasses :class:`Backbone` and registers a factory:

    .. code-block:: python

        @register_backbone("my_cnn")
        def my_cnn(*, weights=None):
            return MyCNN().load_weights(weights)

    Examples
    --------
    Names are unique unless replacing is asked for:

    >>> from artmedium.nets import register_backbone
    >>> register_backbone("resnet18", lambda *, weights=None: None)
    Traceback (most recent call last):
    ...
    ValueError: backbone 'resnet18' is already registered; pass overwrite=True ...
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"backbone name must be a non-empty string; got {name!r}.")

    def register(factory):
        if not callable(factory):
            raise TypeError(
                f"backbone factory for {name!r} must be callable; got {factory!r}."
            )
        if name in _REGISTRY and not overwrite:
            raise ValueError(
                f"backbone {name!r} is already registered; pass overwrite=True "
                "to replace it."
            )
        _REGISTRY[name] = factory
        return factory

    return register if factory is None else register(factory)


def list_backbones():
    """Names of the registered backbones, sorted.

    Returns
    -------
    names : list of str

    Examples
    --------
    >>> from artmedium.nets import list_backbones
    >>> {"simple_cnn", "resnet18", "efficientnet_lite0"} <= set(list_backbones())
    True
    """
    return sorted(_REGISTRY)


def get_backbone(name, *, weights=None):
    """A fresh backbone instance by registry name.

    Parameters
    ----------
    name : str
        A name from :func:`list_backbones`: ``"simple_cnn"``, ``"resnet18"``,
        ``"efficientnet_lite0"`` or one added with :func:`register_backbone`.
    weights : None, "auto", "imagenet", str or os.PathLike, default=None
        ``None``: random initialisation (seed with ``torch.manual_seed``).
        ``"auto"``: ``"imagenet"`` where the backbone has ImageNet weights,
        random otherwise (the instance's ``weights`` says which).
        ``"imagenet"``: the backbone's ImageNet weights (resnet18: downloaded by
        torchvision, or found in its cache; efficientnet_lite0: from the
        ``artmedium[pretrained]`` extra; simple_cnn has none). A path: a
        state-dict file loaded with a strict key check
        (:meth:`Backbone.load_weights`).

    Returns
    -------
    backbone : Backbone
        In training mode, like any new module; its ``name`` is ``name``.

    Raises
    ------
    ValueError
        Unknown ``name``, weights that do not match, or no ImageNet weights.
    WeightsUnavailableError
        ImageNet weights could not be downloaded.
    ImportError
        The optional package holding the ImageNet weights is not installed.

    Examples
    --------
    >>> from artmedium.nets import get_backbone
    >>> net = get_backbone("resnet18")
    >>> net.feature_dim, net.n_stages
    (512, 5)
    """
    try:
        factory = _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown backbone {name!r}; available: {', '.join(list_backbones())}."
        ) from None
    backbone = factory(weights=weights)
    if not isinstance(backbone, Backbone):
        raise TypeError(
            f"the factory registered as {name!r} returned "
            f"{type(backbone).__name__}, not a Backbone."
        )
    # The registry name is what estimators persist, so it is the one the
    # instance carries, even for a factory reused under a second name.
    backbone.name = name
    return backbone


def backbone_factory(name):
    """The factory registered under ``name``, or None.

    What a cache of built backbones keys on besides the name, so that a
    factory registered again under the same name is never served an old
    network.

    Examples
    --------
    >>> from artmedium.nets import backbone_factory
    >>> callable(backbone_factory("simple_cnn")), backbone_factory("no such net")
    (True, None)
    """
    return _REGISTRY.get(name)

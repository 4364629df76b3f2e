"""The order of the gallery: from the first prediction to the pieces of a study."""

from pathlib import Path

ORDER = [
    "plot_quick_start.py",
    "plot_embed_and_classify.py",
    "plot_grid_search_learning_rate.py",
    "plot_frozen_vs_finetuned.py",
    "plot_confusion_matrix.py",
    "plot_tagger_vs_classifier.py",
    "plot_saliency.py",
]


class ExampleOrder:
    """Sort key for sphinx-gallery's ``within_subsection_order``: :data:`ORDER`,
    then any other example by file name."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        name = Path(filename).name
        rank = ORDER.index(name) if name in ORDER else len(ORDER)
        return f"{rank:03d}{name}"

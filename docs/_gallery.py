"""sphinx-gallery helpers: the order of the examples, and a scraper for the
figures artmedium draws.

artmedium's plotting functions return plain matplotlib ``Figure`` objects that
pyplot never sees (no global state, no window), so sphinx-gallery's matplotlib
scraper, which saves pyplot's figures, misses them. :func:`figure_scraper` saves
those that a cell leaves in the example's variables.
"""

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


_saved = {"example": None, "figures": []}


def figure_scraper(block, block_vars, gallery_conf, **kwargs):
    """Save the Figures outside pyplot that a cell left in the example's variables.

    Listed before sphinx-gallery's matplotlib scraper, which closes pyplot's
    figures after saving them: a figure pyplot still manages here is its to save,
    and is remembered so that it is not saved again once closed.
    """
    from matplotlib.figure import Figure
    from sphinx_gallery.scrapers import figure_rst

    if _saved["example"] != block_vars["src_file"]:
        _saved.update(example=block_vars["src_file"], figures=[])
    rsts = []
    for value in list(block_vars["example_globals"].values()):
        if not isinstance(value, Figure) or any(
            value is seen for seen in _saved["figures"]
        ):
            continue
        _saved["figures"].append(value)
        if value.canvas.manager is None:
            path = next(block_vars["image_path_iterator"])
            value.savefig(path, bbox_inches="tight")
            rsts.append(figure_rst([path], gallery_conf["src_dir"]))
    return "".join(rsts)

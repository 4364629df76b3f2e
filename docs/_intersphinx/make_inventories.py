"""Write the small intersphinx inventories that the offline docs build links with.

The docs build (CI included) has no network, so intersphinx cannot fetch the
projects' ``objects.inv``. These hand-kept inventories name the objects that
artmedium's docstrings, guide and gallery refer to, at the URLs where those
projects document them (their stable docs' usual layout). Add a name here when a
page links a new one, then run::

    python docs/_intersphinx/make_inventories.py

An online build can use the live inventories instead: point the second element
of each ``intersphinx_mapping`` entry in ``docs/conf.py`` at None.
"""

import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

# project: (title, {name: (role, relative URI)}); "$" in a URI is the name.
SKLEARN_GENERATED = "modules/generated/$.html#$"
INVENTORIES = {
    "sklearn": (
        "scikit-learn",
        {
            **dict.fromkeys(
                [
                    "sklearn.calibration.CalibratedClassifierCV",
                    "sklearn.frozen.FrozenEstimator",
                    "sklearn.linear_model.LogisticRegression",
                    "sklearn.metrics.ConfusionMatrixDisplay",
                    "sklearn.model_selection.GridSearchCV",
                    "sklearn.model_selection.GroupKFold",
                    "sklearn.model_selection.StratifiedGroupKFold",
                    "sklearn.model_selection.StratifiedKFold",
                    "sklearn.multioutput.MultiOutputClassifier",
                    "sklearn.neighbors.KNeighborsClassifier",
                    "sklearn.pipeline.Pipeline",
                    "sklearn.preprocessing.StandardScaler",
                    "sklearn.svm.LinearSVC",
                    "sklearn.utils.Bunch",
                ],
                ("py:class", SKLEARN_GENERATED),
            ),
            **dict.fromkeys(
                [
                    "sklearn.base.clone",
                    "sklearn.datasets.get_data_home",
                    "sklearn.metrics.accuracy_score",
                    "sklearn.metrics.balanced_accuracy_score",
                    "sklearn.metrics.classification_report",
                    "sklearn.model_selection.check_cv",
                    "sklearn.model_selection.cross_validate",
                    "sklearn.model_selection.train_test_split",
                    "sklearn.pipeline.make_pipeline",
                    "sklearn.utils.check_scalar",
                ],
                ("py:function", SKLEARN_GENERATED),
            ),
            "sklearn.metrics": ("py:module", "api/sklearn.metrics.html#module-$"),
        },
    ),
    "python": (
        "Python",
        {
            "json.loads": ("py:function", "library/json.html#$"),
            "os.fsdecode": ("py:function", "library/os.html#$"),
            "os.lstat": ("py:function", "library/os.html#$"),
            "os.replace": ("py:function", "library/os.html#$"),
            "pathlib.Path": ("py:class", "library/pathlib.html#$"),
            "pickle": ("py:module", "library/pickle.html#module-$"),
            "tempfile.gettempdir": ("py:function", "library/tempfile.html#$"),
        },
    ),
    "numpy": (
        "NumPy",
        {
            "numpy.ndarray": ("py:class", "reference/generated/$.html#$"),
            "numpy.load": ("py:function", "reference/generated/$.html#$"),
        },
    ),
    "torch": (
        "PyTorch",
        {
            "torch.autograd.grad": ("py:function", "generated/$.html#$"),
            "torch.nn.Module": ("py:class", "generated/$.html#$"),
            "torch.nn.ModuleList": ("py:class", "generated/$.html#$"),
            "torch.set_num_threads": ("py:function", "generated/$.html#$"),
        },
    ),
    "joblib": (
        "joblib",
        {
            "joblib.Memory": ("py:class", "generated/$.html#$"),
            "joblib.parallel_backend": ("py:function", "generated/$.html#$"),
        },
    ),
    "PIL": (
        "Pillow",
        {"PIL.Image.Image": ("py:class", "reference/Image.html#$")},
    ),
    "pandas": (
        "pandas",
        {"pandas.DataFrame": ("py:class", "reference/api/$.html#$")},
    ),
}


def write(name, title, objects):
    lines = [
        f"{obj} {role} 1 {uri.replace('$', obj)} -\n"
        for obj, (role, uri) in sorted(objects.items())
    ]
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {title}\n"
        "# Version: stable\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    body = zlib.compress("".join(lines).encode("utf-8"), 9)
    (HERE / f"{name}.inv").write_bytes(header.encode("utf-8") + body)


if __name__ == "__main__":
    for name, (title, objects) in INVENTORIES.items():
        write(name, title, objects)
        print(f"{name}.inv: {len(objects)} objects")

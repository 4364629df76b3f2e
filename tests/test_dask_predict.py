"""artmedium.dask.predict and ``artmedium predict --scheduler`` (#18).

The cluster tests share the session's LocalCluster (conftest ``dask_cluster``:
2 worker processes of one thread each, on loopback); the one that kills a
worker starts its own.
"""

import csv
import importlib
import io
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

import dask.bag as db  # noqa: E402
import dask.dataframe as dd  # noqa: E402
import pandas as pd  # noqa: E402

import artmedium.dask  # noqa: E402
from artmedium._writers import CsvWriter  # noqa: E402
from artmedium.cli import main  # noqa: E402
from artmedium.dask import _predict  # noqa: E402
from artmedium.inference import predict_files  # noqa: E402
from artmedium.persistence import default_model_dir, load_model  # noqa: E402
from conftest import make_toy_images, two_workers  # noqa: E402

BAD_NAME = os.fsdecode(b"caf\xe9 scan.png")  # not UTF-8: a lone surrogate


@pytest.fixture(autouse=True)
def threads_of_a_worker():
    """This process computes the expected results on one thread, as each
    worker of the shared cluster does: the last bits of a BLAS product (the
    calibration, the novelty) or of a torch forward depend on how many threads
    split it, so bit-for-bit equality holds between equal thread counts."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Eleven readable PNGs (one named in bytes that are not UTF-8), a corrupt
    file and a missing one, in an order that is not the sorted one."""
    X, _ = make_toy_images(n_per_class=6, size=48, seed=3)
    root = tmp_path_factory.mktemp("dask_images")
    paths = []
    for i, img in enumerate(X[:11]):
        name = BAD_NAME if i == 4 else f"scan{(7 * i) % 11:02d}.png"
        Image.fromarray(img).save(root / name)
        paths.append(str(root / name))
    corrupt = root / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    missing = str(root / "missing.png")
    # In partitions of 4: the corrupt file in the second, the missing one in
    # the third.
    return [*paths[:6], str(corrupt), *paths[6:9], missing, *paths[9:]]


@pytest.fixture(scope="module")
def onnx_default():
    return load_model("default", backend="onnx", threads=1)


def column_values(frame, name):
    return [
        None if (isinstance(v, float) and math.isnan(v)) else v for v in frame[name]
    ]


def assert_frame_matches_rows(frame, rows, *, top_k, tag_names, with_status):
    """Each column of ``frame`` worked out again from the result dicts."""
    assert len(frame) == len(rows)
    expected = {
        "path": [r["path"] for r in rows],
        "medium": [r["medium"] for r in rows],
        "probability": [r["probability"] for r in rows],
        "tags": [";".join(r["tags"]) for r in rows],
        "aat_ids": [
            ";".join(f"{t}={i}" for t, i in r["aat_ids"].items()) for r in rows
        ],
        "error": [r["error"] for r in rows],
    }
    if with_status:
        expected["status"] = [r["status"] for r in rows]
        expected["candidates"] = [";".join(r["candidates"]) for r in rows]
        expected["novelty"] = [r["novelty"] for r in rows]
    for k in range(top_k):
        top = [r["top_k"][k] if r["top_k"] else None for r in rows]
        expected[f"top{k + 1}"] = [t and t["medium"] for t in top]
        expected[f"top{k + 1}_probability"] = [t and t["probability"] for t in top]
    for t in tag_names:
        expected[f"tag:{t}"] = [r["tag_probabilities"].get(t) for r in rows]
    assert set(frame.columns) == set(expected)
    for name, values in expected.items():
        assert column_values(frame, name) == values, name
    for name in frame.columns:
        numeric = name.endswith("probability") or name in ("novelty",)
        numeric = numeric or name.startswith("tag:")
        assert frame[name].dtype == (np.float64 if numeric else object), name


# ------------------------------------------------------------ equality


def test_results_equal_predict_files_exactly(dask_client, images, onnx_default):
    expected = list(predict_files(onnx_default, images, batch_size=2))
    assert [bool(r["error"]) for r in expected].count(True) == 2
    bag = artmedium.dask.predict(
        "default", images, batch_size=2, partition_size=4, as_frame=False
    )
    assert bag.npartitions == 4
    assert bag.compute() == expected  # every key, every bit, the same order
    df = artmedium.dask.predict("default", images, batch_size=2, partition_size=4)
    assert df.npartitions == 4 and df.divisions == (0, 4, 8, 12, 12)
    frame = df.compute()
    assert list(frame.index) == list(range(len(images)))
    assert_frame_matches_rows(
        frame, expected, top_k=3, tag_names=_tag_names(expected), with_status=True
    )
    assert frame["path"][4] == images[4]  # the lone surrogate survived
    assert list(frame.columns) == list(df.columns)  # the meta is the result's


def _tag_names(rows):
    return list(next(r for r in rows if not r["error"])["tag_probabilities"])


def test_the_frame_written_as_csv_is_the_clis_csv(dask_client, images, onnx_default):
    plain = [p for p in images if p != images[4]]  # csv escapes odd names
    rows = list(predict_files(onnx_default, plain, batch_size=2, top_k=2))
    out = io.StringIO()
    writer = CsvWriter(out, 2, _tag_names(rows), with_status=True)
    writer.start()
    writer.write(rows)
    frame = artmedium.dask.predict("default", plain, batch_size=2, top_k=2).compute()
    written = frame.to_csv(
        index=False, quoting=csv.QUOTE_ALL, float_format="%.6f", lineterminator="\n"
    )
    assert written == out.getvalue()


def test_real_thumbnails_equal_predict_files(dask_client, tate_dir, onnx_default):
    files = sorted(str(p) for p in (tate_dir / "images").glob("*.jpg"))[:40]
    expected = list(predict_files(onnx_default, files))
    rows = artmedium.dask.predict("default", files, as_frame=False).compute()
    assert rows == expected
    assert all(r["error"] == "" for r in rows)


# ------------------------------------------------------------ inputs


def test_a_bag_and_a_series_give_the_lists_rows(dask_client, images, onnx_default):
    # batch_size=1: the uneven partitions batch as the whole list does.
    images = images[:8]
    expected = list(predict_files(onnx_default, images, batch_size=1))
    bag = db.from_sequence(images, npartitions=3)
    assert (
        artmedium.dask.predict("default", bag, batch_size=1, as_frame=False).compute()
        == expected
    )
    by_bag = artmedium.dask.predict("default", bag, batch_size=1).compute()
    assert column_values(by_bag, "medium") == [r["medium"] for r in expected]
    plain = [p for p in images if p != images[4]]  # Arrow strings: UTF-8 only
    index = pd.Index([f"id{i}" for i in range(len(plain))], name="id")
    series = dd.from_pandas(pd.Series(plain, index=index), npartitions=3, sort=False)
    df = artmedium.dask.predict("default", series, batch_size=1)
    assert df.divisions == series.divisions
    frame = df.compute()
    assert list(frame.index) == list(index) and frame.index.name == "id"
    kept = [r for r in expected if r["path"] != images[4]]
    assert_frame_matches_rows(
        frame, kept, top_k=3, tag_names=_tag_names(kept), with_status=True
    )


def test_a_bad_image_gives_an_error_row_and_all_others(dask_client, images):
    frame = artmedium.dask.predict(
        "default", images, batch_size=2, partition_size=4
    ).compute()
    errors = frame["error"].tolist()
    assert [i for i, e in enumerate(errors) if e] == [
        6,
        10,
    ]  # in the second and third partitions
    assert errors[10] == "missing (no such file)"
    assert frame["medium"].iloc[[6, 10]].isna().all()
    good = frame.drop(index=[6, 10])
    assert good["medium"].notna().all() and good["probability"].between(0, 1).all()


def test_an_item_that_is_not_a_path_gives_an_error_row(dask_client, images):
    bag = db.from_sequence([images[0], None, 3.5, images[1]], npartitions=2)
    rows = artmedium.dask.predict("default", bag, as_frame=False).compute()
    assert [r["error"] for r in rows] == [
        "",
        "not a file path: NoneType None",
        "not a file path: float 3.5",
        "",
    ]
    assert [r["path"] for r in rows] == [images[0], "", "3.5", images[1]]


@pytest.mark.parametrize(
    "paths, error, match",
    [
        ("scans/a.jpg", TypeError, "not one path"),
        ([b"a.jpg", 3], TypeError, r"paths\[1\] must be a str or os.PathLike, got int"),
        (pd.Series(["a.jpg"]), TypeError, "pandas Series is not taken"),
        (np.array([["a.jpg"]]), ValueError, "1-D"),
        ({"a.jpg"}, TypeError, "got set"),
    ],
)
def test_wrong_paths_are_refused_naming_them(paths, error, match):
    with pytest.raises(error, match=match):
        artmedium.dask.predict("default", paths)


def test_wrong_models_and_options_are_refused(toy_classifier, onnx_default):
    frame = dd.from_pandas(pd.DataFrame({"path": ["a.jpg"]}), npartitions=1)
    with pytest.raises(TypeError, match=r"one column of the dask DataFrame"):
        artmedium.dask.predict("default", frame)
    numbers = dd.from_pandas(pd.Series([1, 2]), npartitions=1)
    with pytest.raises(TypeError, match="dtype int64"):
        artmedium.dask.predict("default", numbers)
    with pytest.raises(TypeError, match="pass its saved folder"):
        artmedium.dask.predict(onnx_default, ["a.jpg"])
    with pytest.raises(TypeError, match="got int"):
        artmedium.dask.predict(3, ["a.jpg"])
    with pytest.raises(ValueError, match="applies to a saved model folder"):
        artmedium.dask.predict(toy_classifier, ["a.jpg"], backend="onnx")
    with pytest.raises(ValueError, match="partition_size applies to a list"):
        artmedium.dask.predict("default", db.from_sequence(["a.jpg"]), partition_size=2)
    with pytest.raises(ValueError, match="confidence"):
        artmedium.dask.predict("default", ["a.jpg"], confidence=1.5)
    with pytest.raises(FileNotFoundError, match="no saved model"):
        artmedium.dask.predict("no/such/model", ["a.jpg"])


def test_no_paths_give_an_empty_frame_with_the_columns():
    frame = artmedium.dask.predict("default", [], top_k=1).compute()
    assert len(frame) == 0 and list(frame.columns[:4]) == [
        "path",
        "medium",
        "probability",
        "status",
    ]


# ------------------------------------------------------------ the model


def _loads_of(client, folder, backend):
    """Per worker: how many times it loaded ``folder`` with ``backend``."""
    info = client.run(_predict._cache_info)
    return {w: i["loads"].get(f"{folder}|{backend}|1", 0) for w, i in info.items()}


def test_a_saved_model_loads_once_per_worker(dask_client, images):
    folder = os.path.realpath(default_model_dir())
    for _ in range(2):
        df = artmedium.dask.predict("default", images, partition_size=2, batch_size=2)
        assert df.npartitions == 7
        df.compute()
    loads = _loads_of(dask_client, folder, "onnx")
    # 14 tasks over 2 workers, and other tests before: one load per worker,
    # with the worker's one thread (threads=None would say so).
    assert max(loads.values()) == 1, loads


def test_the_saved_model_travels_as_its_name(images):
    df = artmedium.dask.predict("default", images[:4], partition_size=2)
    graph = dict(df.__dask_graph__())
    carried = [_leaves(task) for task in graph.values() if _leaves(task)]
    names = [x for leaves in carried for x in leaves if isinstance(x, _predict._Saved)]
    # Each partition task carries the name alone; no task holds a model.
    assert names == [_predict._Saved("default", "auto", None)] * 2
    kinds = {type(x).__name__ for leaves in carried for x in leaves}
    assert kinds <= {"list", "_Saved", "dict", "tuple", "int"}, kinds


def test_a_fitted_estimator_is_sent_once_not_per_task(
    dask_client, images, toy_classifier, monkeypatch
):
    expected = list(predict_files(toy_classifier, images, batch_size=2))
    cls = type(toy_classifier)
    pickled = []
    real = cls.__getstate__

    def counted(self):
        pickled.append(1)
        return real(self)

    monkeypatch.setattr(cls, "__getstate__", counted)
    bag = artmedium.dask.predict(
        toy_classifier, images, batch_size=2, partition_size=2, as_frame=False
    )
    assert bag.npartitions == 7
    graph = dict(bag.__dask_graph__())
    holders = [
        k for k, v in graph.items() if any(x is toy_classifier for x in _leaves(v))
    ]
    assert len(holders) == 1  # one key holds it; every task depends on it
    # One worker only: the other need not import torch.
    assert dask_client.compute(bag, workers=[_torch_worker(dask_client)]).result() == (
        expected
    )
    # Pickled once into the graph (and once more by the in-process scheduler
    # to the first worker), not once per task.
    assert 1 <= len(pickled) <= 2, len(pickled)


def test_torch_backend_equals_predict_files(dask_client, images):
    # After the estimator's test: the workers have imported torch already.
    few = images[:3]
    expected = list(predict_files(load_model("default"), few, batch_size=2))
    result = artmedium.dask.predict(
        "default", few, backend="torch", batch_size=2, as_frame=False
    )
    worker = _torch_worker(dask_client)
    assert dask_client.compute(result, workers=[worker]).result() == expected


def _torch_worker(client):
    """The worker the torch tests run on (the first, by address)."""
    return min(client.scheduler_info()["workers"])


def _leaves(node):
    """The plain objects a task of the graph carries (its arguments, or a data
    node's value); nothing for an alias of another key."""
    if type(node).__name__ == "DataNode":
        return [node.value]
    if type(node).__name__ != "Task":
        return []
    return [*node.args, *node.kwargs.values()]


# ------------------------------------------------------------ a lost worker


def test_a_worker_killed_mid_run_loses_no_result(images, onnx_default):
    many = images * 2
    expected = list(predict_files(onnx_default, many, batch_size=2))
    with (
        two_workers() as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        pids = client.run(os.getpid)
        bag = artmedium.dask.predict(
            "default", many, batch_size=2, partition_size=2, as_frame=False
        )
        future = client.compute(bag)
        deadline = time.monotonic() + 60
        busy = {}
        while not busy and time.monotonic() < deadline:
            busy = {w: ts for w, ts in client.processing().items() if ts}
            time.sleep(0.01)
        victim = next(iter(busy))
        assert not future.done()
        os.kill(pids[victim], signal.SIGKILL)
        assert future.result(timeout=120) == expected
        assert pids[victim] not in client.run(os.getpid).values()


# ------------------------------------------------------------ the CLI


def invoke(*args):
    return CliRunner().invoke(main, ["predict", *map(str, args)])


@pytest.fixture(scope="module")
def files(images):
    """What the CLI is given: the images and the corrupt file (a missing file
    is a usage error there)."""
    return [p for p in images if os.path.exists(p)]


def test_cli_local_cluster_writes_the_plain_output(tmp_path, files):
    plain, on_dask = tmp_path / "plain.csv", tmp_path / "dask.csv"
    common = [*files, "--format", "csv", "--batch-size", "2", "-q"]
    first = invoke(*common, "-o", plain)
    second = invoke(*common, "-o", on_dask, "--scheduler", "local:2")
    assert first.exit_code == second.exit_code == 1, second.output
    assert "1 of 12 input(s) could not be read" in second.output
    assert on_dask.read_bytes() == plain.read_bytes()


@pytest.mark.parametrize("fmt", ["jsonl", "table", "json"])
def test_cli_scheduler_address_gives_the_same_output(dask_cluster, files, fmt):
    common = [*files, "--format", fmt, "--batch-size", "2", "--vocabulary", "poster"]
    plain = invoke(*common)
    on_dask = invoke(*common, "--scheduler", dask_cluster.scheduler_address)
    assert on_dask.exit_code == plain.exit_code == 1
    assert on_dask.stdout == plain.stdout


def test_cli_on_error_fail_stops_where_the_plain_run_stops(dask_cluster, files):
    common = [*files, "--format", "csv", "--on-error", "fail", "--batch-size", "2"]
    plain = invoke(*common)
    on_dask = invoke(
        *common, "--scheduler", dask_cluster.scheduler_address, "--partition-size", 4
    )
    assert on_dask.exit_code == plain.exit_code == 1
    assert on_dask.output == plain.output
    assert "Error: cannot read" in plain.output and "corrupt.png" in plain.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--scheduler", "local:0"], "local:N needs a number of workers"),
        (["--scheduler", "local:two"], "local:N needs a number of workers"),
        (["--partition-size", "8"], "--partition-size applies with --scheduler"),
    ],
)
def test_cli_bad_scheduler_options_are_usage_errors(files, args, message):
    result = invoke(files[0], *args)
    assert result.exit_code == 2 and message in result.output


def test_cli_unreachable_scheduler_is_a_one_line_error(files):
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        result = invoke(files[0], "--scheduler", "tcp://127.0.0.1:9")
    assert result.exit_code == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.output


# ------------------------------------------------------------ without dask


@pytest.fixture
def no_dask(monkeypatch):
    """An environment where ``import dask`` fails."""
    for name in list(sys.modules):
        if name == "dask" or name.startswith(("dask.", "distributed")):
            monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "artmedium.dask._predict")
    monkeypatch.delattr(artmedium.dask, "predict", raising=False)


def test_missing_dask_is_a_clear_import_error(no_dask):
    with pytest.raises(ImportError, match=r'pip install "artmedium\[dask\]"'):
        importlib.import_module("artmedium.dask._predict")
    with pytest.raises(ImportError, match=r'pip install "artmedium\[dask\]"'):
        artmedium.dask.predict  # noqa: B018


def test_cli_without_dask_says_what_to_install(no_dask, files):
    result = invoke(files[0], "--scheduler", "local:2")
    assert result.exit_code == 1
    assert 'needs dask and distributed: pip install "artmedium[dask]"' in result.output


def test_the_plain_cli_does_not_import_dask(files):
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from artmedium.cli import main\n"
        f"r = CliRunner().invoke(main, ['predict', {files[0]!r}, '--vocabulary',"
        " 'poster'])\n"
        "assert r.exit_code == 0, r.output\n"
        "r = CliRunner().invoke(main, ['predict', '--help'])\n"
        "assert '--scheduler' in r.output\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('dask', 'distributed', 'pandas')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"

"""save_saliency_overlays: a PNG per image file, as ``artmedium saliency`` writes."""

import pytest
from PIL import Image

from artmedium.explain import SaliencyMap, save_saliency_overlays
from conftest import make_toy_images
from test_persistence import TWO_MEDIA, fit_toy_classifier

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def explainer():
    X, y = make_toy_images(n_per_class=4, size=40)
    clf = fit_toy_classifier(X, TWO_MEDIA[(y == "striped").astype(int)])
    return SaliencyMap(clf).fit()


def test_one_png_per_image_named_after_it_even_when_stems_repeat(explainer, tmp_path):
    X, _ = make_toy_images(n_per_class=1, size=40, seed=3)
    sources = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        Image.fromarray(X[0]).save(tmp_path / folder / "scan.png")
        sources.append(str(tmp_path / folder / "scan.png"))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    out = tmp_path / "maps" / "deep"
    saved = list(save_saliency_overlays(explainer, [*sources, broken], out))
    assert [s.source for s in saved] == [*sources, str(broken)]
    assert [s.path for s in saved] == [
        out / "scan_saliency.png",
        out / "scan-2_saliency.png",
        None,
    ]
    assert saved[2].error.startswith(f"cannot read image {broken}")
    assert sorted(p.name for p in out.iterdir()) == [
        "scan-2_saliency.png",
        "scan_saliency.png",
    ]  # nothing half-written
    with Image.open(out / "scan_saliency.png") as png:
        assert png.format == "PNG" and png.size[0] > 100


def test_nothing_is_created_without_matplotlib(explainer, tmp_path, monkeypatch):
    from artmedium.explain import _overlays

    def missing():
        raise ImportError("artmedium's plots need matplotlib")

    monkeypatch.setattr(_overlays, "_matplotlib", missing)
    with pytest.raises(ImportError, match="matplotlib"):
        next(save_saliency_overlays(explainer, ["x.png"], tmp_path / "maps"))
    assert not (tmp_path / "maps").exists()

"""Every page works from this machine alone, and the heatmap still looks the way it was
approved (a committed screenshot, compared within a tolerance)."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image, ImageChops, ImageStat

from .conftest import VIEWPORT, is_local, log_in, wait_for_plot

BASELINE = Path(__file__).parent / "baseline" / "heatmap.png"
# Mean absolute difference per channel, as a share of full scale: enough for anti-aliasing and
# font hinting, far too little for a missing trace, a changed colour scale or a moved toolbar.
TOLERANCE = 0.02


def test_no_page_asks_anything_of_another_machine(page, live_server, dashboard_user):
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    log_in(page, live_server, "/heatmap/")
    wait_for_plot(page)
    for path in ("/map/", "/compare/"):
        page.goto(live_server.url + path)
        wait_for_plot(page)
    page.goto(live_server.url + "/api/docs/")
    page.wait_for_load_state("networkidle")
    assert any("/static/vendor/plotly.min.js" in url for url in requested)
    assert [url for url in requested if not is_local(url)] == []


def test_the_heatmap_looks_like_its_baseline(page, live_server, dashboard_user, tmp_path):
    log_in(page, live_server, "/heatmap/")
    wait_for_plot(page)
    page.mouse.move(0, 0)  # no hover label in the picture
    page.wait_for_timeout(300)
    shot = tmp_path / "heatmap.png"
    page.screenshot(path=shot, animations="disabled", caret="hide")
    if os.environ.get("UPDATE_BASELINE") == "1":
        BASELINE.parent.mkdir(exist_ok=True)
        BASELINE.write_bytes(shot.read_bytes())
    assert BASELINE.exists(), f"no baseline: look at {shot}, then rerun with UPDATE_BASELINE=1"
    expected, actual = Image.open(BASELINE).convert("RGB"), Image.open(shot).convert("RGB")
    assert actual.size == expected.size == (VIEWPORT["width"], VIEWPORT["height"])
    difference = sum(ImageStat.Stat(ImageChops.difference(expected, actual)).mean) / 3 / 255
    assert difference < TOLERANCE, f"{difference:.2%} different from the baseline; see {shot}"

"""New run's layer-importance scan: started from the page, run in its own process, drawn, and its suggestion taken."""

import json
import time

from distill_core.runs import scans
from distill_core.views.layer_scan import SUGGESTED_COLOR
from tests.ui.test_pages import compose_with_local_teacher


def _button(at, label):
    return next(b for b in at.button if b.label == label)


def test_the_scan_is_drawn_and_its_layers_can_be_kept(tiny_teacher_dir):
    at = compose_with_local_teacher(tiny_teacher_dir)
    _button(at, "Scan the teacher's layers").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (key,) = [p.name for p in scans.scan_folder("x").parent.iterdir()]  # one scan started
    deadline = time.monotonic() + 120
    while scans.state(key).status == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
    scan = scans.state(key).scan
    assert scan is not None, scans.state(key).error
    at.run()
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    drawn = figure["data"][0]
    assert drawn["y"] == scan["influence"]
    suggested = [i for i, c in enumerate(drawn["marker"]["color"]) if c == SUGGESTED_COLOR]
    kept_now = at.multiselect(key="w:layers").value
    take = _button(at, "Keep the suggested layers")
    if suggested == sorted(kept_now):
        assert take.disabled
    else:
        take.click().run()
        assert sorted(at.multiselect(key="w:layers").value) == suggested
        assert _button(at, "Keep the suggested layers").disabled  # the config now keeps what the scan suggests

"""The browser view rendered in-process (solara.render, no server, no browser)."""

from __future__ import annotations

import argparse
import socket
import zlib

import pytest

pytest.importorskip("solara", reason="the viz extra (solara, altair) is not installed")

import ipyvuetify as v  # noqa: E402
import ipywidgets  # noqa: E402
import solara  # noqa: E402
import solara.widgets  # noqa: E402
from support import ROOT, small_config  # noqa: E402

from ccgabm.events import Event  # noqa: E402
from ccgabm.viz import add_viz_arguments, cli_viz  # noqa: E402
from ccgabm.viz import components as C  # noqa: E402
from ccgabm.viz.app import Page, make_model_params  # noqa: E402
from ccgabm.viz.model import VizModel, coerce_seed  # noqa: E402

BASELINE = ROOT / "configs" / "baseline.toml"


def render_page(model: VizModel):
    # SolaraViz puts its buttons in Sidebar/AppBar portals: without an AppLayout around the page
    # they are never made (``solara run`` wraps pages in one automatically).
    return solara.render(solara.AppLayout(children=[Page(model=model)]), handle_error=False)


def html_text(rc, marker: str) -> str:
    """The inner HTML of the one solara.HTML element containing ``marker``."""
    found = [w.unsafe_innerHTML for w in rc.find(solara.widgets.HTML).widgets
             if marker in (w.unsafe_innerHTML or "")]
    assert len(found) == 1, f"{len(found)} HTML elements contain {marker!r}"
    return found[0]


def image(rc, marker: bytes) -> bytes:
    """The one image (SVG) on the page whose content contains ``marker``."""
    found = [bytes(w.value) for w in rc.find(ipywidgets.Image).widgets if marker in bytes(w.value)]
    assert len(found) == 1, f"{len(found)} images contain {marker!r}"
    return found[0]


@pytest.fixture
def small_model() -> VizModel:
    return VizModel(config=small_config(), seed=5)


def test_step_button_advances_model_and_redraws(small_model):
    _, rc = render_page(small_model)
    step = rc.find(v.Btn, children=["Step"])
    step.assert_single()
    rc.find(v.Btn, children=["Reset"]).assert_single()
    rc.find(children=["Time: 0.0"]).assert_single()  # Mesa's step counter (model.time)
    assert "Month 0 of 24" in html_text(rc, "ccgabm-summary")
    assert len(rc.find(ipywidgets.Image).widgets) == 2
    image(rc, b"practices in")  # the practice map
    before = image(rc, b"Commissioning groups")  # the charts

    for _ in range(3):
        step.widget.click()

    assert small_model.month == 3
    rc.find(children=["Time: 3.0"]).assert_single()
    assert "Month 3 of 24" in html_text(rc, "ccgabm-summary")
    assert image(rc, b"Commissioning groups") != before, "charts did not change"
    assert len(small_model.series.months) == 3
    assert set(small_model.series.balance) == {g.code for g in small_model.active_groups}


def test_sidebar_has_sliders_and_seed_box(small_model):
    _, rc = render_page(small_model)
    sliders = {w.label: w.v_model for w in rc.find(v.Slider).widgets}
    assert sliders["Budget pressure"] == pytest.approx(0.0)
    assert sliders["Deprivation gap (IMD points)"] == pytest.approx(15.0)
    assert sliders["Initial trust"] == pytest.approx(0.6)
    trust = next(w for w in rc.find(v.Slider).widgets if w.label == "Initial trust")
    assert trust.min == pytest.approx(0.3)  # never below trust in outsiders
    rc.find(v.TextField, label="Seed").assert_single()
    rc.find(v.Btn, children=["▶"]).assert_single()  # play


@pytest.mark.parametrize("typed, expected", [("7", 7), ("", 1), ("abc", zlib.crc32(b"abc"))])
def test_typed_seed_then_reset_builds_a_fresh_model(small_model, typed, expected):
    """mesa#3516: the seed box hands over a str; Reset must still build a model."""
    _, rc = render_page(small_model)
    rc.find(v.Btn, children=["Step"]).widget.click()
    rc.find(children=["Time: 1.0"]).assert_single()

    seed = rc.find(v.TextField, label="Seed").widget
    seed.v_model = typed  # what the browser sends: text
    seed.fire_event("focusout", None)  # InputText commits on focus-out or Enter
    rc.find(v.Btn, children=["Reset"]).widget.click()

    rc.find(children=["Time: 0.0"]).assert_single()
    assert not rc.find(v.Alert).widgets, "SolaraViz showed an error"
    summary = html_text(rc, "ccgabm-summary")
    assert f"seed {expected} " in summary  # baseline config's seed is 1
    assert "Month 0 of 120" in summary  # Reset builds the page's scenario (baseline)


def test_slider_change_reaches_the_model_on_reset(small_model):
    _, rc = render_page(small_model)
    slider = next(w for w in rc.find(v.Slider).widgets if w.label == "Budget pressure")
    slider.v_model = 0.2
    rc.find(v.Btn, children=["Reset"]).widget.click()
    assert "budget pressure 0.2 " in html_text(rc, "ccgabm-summary")


def test_model_params_match_the_model_signature():
    params = make_model_params(BASELINE)
    assert set(params) == {"budget_pressure", "deprivation_gap", "initial_trust", "seed", "config"}
    kwargs = {k: (p["value"] if isinstance(p, dict) else p) for k, p in params.items()}
    model = VizModel(**kwargs)
    assert model.seed == 1 and model.cfg.region.deprivation_gap == 15.0


def test_vizmodel_applies_overrides():
    model = VizModel(budget_pressure=0.15, deprivation_gap=30.0, initial_trust=0.4, seed="9",
                     config=small_config())
    assert model.seed == 9
    assert model.cfg.finance.budget_pressure == pytest.approx(0.15)
    assert model.cfg.region.deprivation_gap == pytest.approx(30.0)
    assert model.cfg.behaviour.initial_trust == pytest.approx(0.4)


def test_coerce_seed():
    assert coerce_seed(None) is None and coerce_seed("") is None and coerce_seed(" none ") is None
    assert coerce_seed("42") == 42 and coerce_seed(" 12 ") == 12 and coerce_seed(42.0) == 42
    assert coerce_seed("3.0") == 3 and coerce_seed("1e3") == 1000
    assert coerce_seed("-3") == zlib.crc32(b"-3")  # numpy seeds must be non-negative
    assert coerce_seed("x") == coerce_seed("x") == zlib.crc32(b"x")
    with pytest.raises(TypeError):
        coerce_seed(True)


def test_groups_that_form_and_end_get_their_own_series(small_model):
    model = small_model
    for _ in range(2):
        model.step()
    parent = model.active_groups[0]
    new = model.form_group(parent, parent.members[:2])
    model.step()
    assert new.code in model.series.balance
    assert len(model.series.balance[new.code][0]) == 1
    model.merge_groups(new, parent, Event.FORCED_MERGER)
    model.step()
    model.step()
    assert len(model.series.balance[new.code][0]) == 2  # one last point (zero), then no more
    events = model.log_events(50)
    assert {"group_created", "join", "leave", "forced_merger"} <= {e["kind"] for e in events}
    # a merger is recorded on the group that ends, naming the group it merged into
    mergers = [e for e in events if e["kind"] == "forced_merger"]
    assert [(e["group"], e["detail"]) for e in mergers] == [(new.code, parent.code)]
    assert model.event_counts()["forced_merger"] == 1
    shown = C.events_html(model)
    assert "ccgabm-events" in shown and "forced_merger 1" in shown and ">forced_merger<" in shown
    svg = C.charts_image(model).decode()  # a new group mid-run gets a line and a colour
    assert C.group_colours(model)[new.code] in svg


def test_trust_links_stay_within_groups(small_model):
    pairs, strength = C.trust_links(small_model, k=2)
    assert len(pairs) and len(pairs) == len(strength)
    group = {p.index: p.group.code for p in small_model.practices}
    assert all(group[a] == group[b] and a != b for a, b in pairs)
    assert ((strength >= 0) & (strength <= 1)).all()


def test_network_image_and_tables(small_model):
    data, fmt = C.network_image(small_model)
    assert fmt == "svg+xml" and data.startswith(b"<?xml")
    small_model.step()
    html = C.groups_html(small_model)
    assert all(g.code in html for g in small_model.active_groups)
    assert "Inequality gap" in html


def test_viz_arguments():
    parser = add_viz_arguments(argparse.ArgumentParser())
    args = parser.parse_args([])
    assert (args.config, args.host, args.port) == (None, "127.0.0.1", 8765)
    args = parser.parse_args(["configs/baseline.toml", "--port", "9000", "--host", "0.0.0.0"])
    assert (args.config, args.host, args.port) == ("configs/baseline.toml", "0.0.0.0", 9000)


def test_cli_viz_rejects_bad_config_and_busy_port(tmp_path, capsys):
    parser = add_viz_arguments(argparse.ArgumentParser())
    assert cli_viz(parser.parse_args([str(tmp_path / "missing.toml")])) == 2
    assert "does not exist" in capsys.readouterr().err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert cli_viz(parser.parse_args([str(BASELINE), "--port", str(port)])) == 2
    assert "in use" in capsys.readouterr().err

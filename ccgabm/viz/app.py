"""The SolaraViz page of ccgabm.

Serve it with ``ccgabm viz [CONFIG]`` (see :mod:`ccgabm.viz.server`) or directly with
``solara run ccgabm.viz.app`` (scenario from $CCGABM_VIZ_CONFIG, default configs/baseline.toml).

Layout: Mesa's SolaraViz supplies the app bar and the sidebar (Reset / Play / Step, play and
render intervals, the parameter sliders, the seed box and the "Time:" step counter); the main
area is laid out here in plain ``solara.Columns``. (Mesa 3.5.1 lays its own ``components`` out
in ``solara.GridDraggable``, a Vue 2 widget that stays blank under ipyvuetify 3, so the page
passes ``components=[]`` and draws its panels itself.)
"""

from __future__ import annotations

import os
from pathlib import Path

import solara
from mesa.visualization import SolaraViz

from ccgabm.config import Config, load_config
from ccgabm.viz.components import EventLog, GroupTable, NetworkView, Summary, TimeSeries
from ccgabm.viz.model import VizModel, default_config_path
from ccgabm.viz.server import assets_cache_dir


def _use_offline_assets() -> None:
    """Under ``solara run``, serve page assets from the offline cache when there is one.

    Solara reads its settings when the server starts, before this module is imported, but its
    CDN route looks the cache folder up on every request, so setting it here still works.
    ``ccgabm viz`` sets the environment variables before the server starts instead.
    """
    try:
        from solara.server import settings
    except ImportError:  # pragma: no cover - solara without its server part
        return
    cache = assets_cache_dir()
    if "SOLARA_ASSETS_PROXY_CACHE_DIR" not in os.environ and cache.is_dir():
        settings.assets.proxy_cache_dir = cache
    if "SOLARA_TELEMETRY_MIXPANEL_ENABLE" not in os.environ:
        settings.telemetry.mixpanel_enable = False


_use_offline_assets()


def make_model_params(config_path: str | Path | None = None) -> dict:
    """Sidebar widgets (dicts with a "type") and fixed arguments of :class:`VizModel`.

    Slider defaults are the scenario's own values, so the page opens on the scenario as is.
    """
    path = Path(config_path) if config_path else default_config_path()
    cfg = load_config(path) if path is not None else Config()
    params: dict = {
        "budget_pressure": {
            "type": "SliderFloat", "label": "Budget pressure", "value": cfg.finance.budget_pressure,
            "min": -0.5, "max": 0.5, "step": 0.01,
        },
    }
    if cfg.world.kind == "region":
        params["deprivation_gap"] = {
            "type": "SliderFloat", "label": "Deprivation gap (IMD points)",
            "value": cfg.region.deprivation_gap, "min": 0.0, "max": 60.0, "step": 1.0,
        }
    # trust inside a group starts no lower than trust in outsiders (no accidental inversion)
    params["initial_trust"] = {
        "type": "SliderFloat", "label": "Initial trust", "value": cfg.behaviour.initial_trust,
        "min": 0.0 if cfg.behaviour.allow_trust_inversion else cfg.behaviour.trust_outside,
        "max": 1.0, "step": 0.05,
    }
    # Mesa 3.5.1 hands InputText values over as str (mesa#3516): VizModel coerces them.
    params["seed"] = {"type": "InputText", "label": "Seed", "value": str(cfg.run.seed)}
    # fixed: passed through to VizModel on Reset (None: every default)
    params["config"] = str(path.resolve()) if path is not None else None
    return params


def default_model_kwargs(model_params: dict) -> dict:
    """The keyword arguments Reset would use with every widget at its default."""
    return {k: (v["value"] if isinstance(v, dict) else v) for k, v in model_params.items()}


@solara.component
def Page(model: VizModel | None = None):
    """The whole page; ``model`` (tests) replaces the model built from the defaults."""
    params = solara.use_memo(make_model_params, [])
    # One model per browser session: a module-level instance would be shared by all tabs.
    initial = solara.use_memo(
        lambda: model if model is not None else VizModel(**default_model_kwargs(params)), []
    )
    # Owning the reactive model lets the panels below follow Reset (SolaraViz swaps .value).
    current = solara.use_reactive(initial)
    solara.Title("ccgabm viz")
    SolaraViz(
        current,
        components=[],
        model_params=params,
        name=f"ccgabm: GP-led commissioning ({Path(params['config']).stem})",
        play_interval=50,
    )
    m = current.value
    with solara.Column(gap="12px", style={"padding": "4px 12px"}):
        Summary(m)
        with solara.Columns([3, 2], gutters_dense=True):
            NetworkView(m)
            with solara.Column(gap="12px"):
                GroupTable(m)
                EventLog(m)
        TimeSeries(m)

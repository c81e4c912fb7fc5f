"""The Gradio demo of Hogwild! Inference: live per-worker lanes, attention charts, each
worker's view of the shared cache, comparisons, and traces that replay without a model.

Layout and wiring live in `ui`, what the buttons do in `callbacks`, what a session is doing
(its run lifecycle) in `lifecycle`, the records every panel reads in `records` and `traces`,
and the drawing in `render` (HTML) and `charts` (plotly).
The engine (`hogwild_core`) is used as is and never imports anything from here."""

from .callbacks import Cadence, Session
from .models import ModelStore, startup_model
from .settings import PageSettings, parse_settings
from .ui import build_ui, launch

__all__ = ["build_ui", "launch", "ModelStore", "startup_model", "Cadence", "Session", "PageSettings", "parse_settings"]

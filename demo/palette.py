"""Worker colours, used for everything a worker owns: its lane, its history entries, its
row and columns in the charts, its blocks in the cache view.

Paul Tol's "muted" scheme, in his recommended order: distinct for the common forms of colour
blindness and in greyscale; pale grey marks what nobody owns (prompt, headers). A visitor who
joins the workers (a name that is not one of the model workers') has the scheme's ninth colour,
purple, which no model worker uses."""

from hogwild_core import WORKER_NAMES

WORKER_COLOURS = ("#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255")
SHARED_COLOUR = "#BBBBBB"
VISITOR_COLOUR = "#AA4499"


def worker_colour(owner: int | None, worker_names=None) -> str:
    """Colour of a worker index; the shared colour for None (prompt, headers). With the run's
    `worker_names`, an external worker (a visitor) gets the visitor's colour."""
    if owner is None:
        return SHARED_COLOUR
    if worker_names is not None and 0 <= owner < len(worker_names) and is_visitor(worker_names[owner]):
        return VISITOR_COLOUR
    return WORKER_COLOURS[owner % len(WORKER_COLOURS)]


def is_visitor(name: str) -> bool:
    """Model workers are named Alice, Bob, ...; any other worker's text came from outside."""
    return name not in WORKER_NAMES


def tint(colour: str, alpha: float = 0.14) -> str:
    """The colour as a light rgba background, so dark text stays readable on it."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"

"""Worker colours, used for everything a worker owns: its lane, its history entries, its
row and columns in the charts, its blocks in the cache view.

Paul Tol's "muted" scheme, in his recommended order: distinct for the common forms of colour
blindness and in greyscale; pale grey marks what nobody owns (prompt, headers)."""

WORKER_COLOURS = ("#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255")
SHARED_COLOUR = "#BBBBBB"


def worker_colour(owner: int | None) -> str:
    """Colour of a worker index; the shared colour for None (prompt, headers)."""
    if owner is None:
        return SHARED_COLOUR
    return WORKER_COLOURS[owner % len(WORKER_COLOURS)]


def tint(colour: str, alpha: float = 0.14) -> str:
    """The colour as a light rgba background, so dark text stays readable on it."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"

"""Charts are pure records -> Figure functions: check the data they put in the figure."""

import plotly.graph_objects as go

from demo.charts import MAX_POINTS, attention_heatmap, attention_timeline
from demo.palette import worker_colour
from tests.pass_records import pass_record

NAMES = ["Alice", "Bob", "Carol"]
BLOCKS = [{"id": 0, "kind": "prompt", "owner": None, "length": 50, "text": "system <script>x</script>"},
          {"id": 1, "kind": "step", "owner": 1, "length": 5, "text": "Bob wrote"},
          {"id": 2, "kind": "current", "owner": 0, "length": 3, "text": "Alice now"}]


def test_heatmap_rows_are_workers_columns_are_blocks():
    matrix = [[0.7, 0.2, 0.1], [0.0, 0.0, 0.0], [0.5, 0.25, 0.25]]
    fig = attention_heatmap(matrix, BLOCKS, NAMES, title="t")
    assert isinstance(fig, go.Figure)
    (heat,) = fig.data
    assert heat.type == "heatmap"
    assert [list(r) for r in heat.z] == [[0.7, 0.2, 0.1], [None, None, None], [0.5, 0.25, 0.25]]
    assert heat.zmin == 0 and heat.zmax == 0.7
    assert list(fig.layout.xaxis.ticktext)[0].endswith("<b>prompt</b></span>")
    assert worker_colour(1) in fig.layout.xaxis.ticktext[1] and "<b>B1</b>" in fig.layout.xaxis.ticktext[1]
    assert "<b>A1…</b>" in fig.layout.xaxis.ticktext[2]      # in progress
    assert "Alice" in fig.layout.yaxis.ticktext[0] and worker_colour(2) in fig.layout.yaxis.ticktext[2]
    hover = heat.text[0][0]
    assert "&lt;script&gt;" in hover and "<script>" not in hover and "mass 0.7000" in hover
    assert heat.text[1][0].count("mass —") == 1
    assert "blank rows" in fig.layout.title.subtitle.text
    assert "Bob, finished step, 5 tokens" in heat.text[0][1]


def test_heatmap_labels_say_author_and_step_and_mark_prompt_and_headers():
    names = ["Alice", "Bob", "Carol", "Dave", "Eve", "Frank", "Grace", "Heidi"]
    blocks = [{"id": 0, "kind": "prompt", "owner": None, "length": 9, "text": ""},
              {"id": 1, "kind": "header", "owner": None, "length": 3, "text": "### others"},
              {"id": 2, "kind": "step", "owner": 7, "length": 4, "text": "**Heidi [5]:** hi"},
              {"id": 3, "kind": "step", "owner": 7, "length": 4, "text": "no label"}]
    fig = attention_heatmap([[0.25] * 4] * 8, blocks, names)
    marks = [t.split("<b>")[1].split("</b>")[0] for t in fig.layout.xaxis.ticktext]
    assert marks == ["prompt", "hdr", "H5", "H2"]      # Heidi's steps never read as a header
    assert fig.layout.height == attention_heatmap([[0.5, 0.5]], blocks[:2], names[:1]).layout.height


def test_heatmap_handles_more_columns_than_described_blocks():
    fig = attention_heatmap([[0.5, 0.3, 0.1, 0.1]], BLOCKS, ["Alice"])
    assert len(fig.data[0].z[0]) == 4 and fig.layout.xaxis.ticktext[3] == "3"


def test_heatmap_labels_stay_readable_with_many_blocks():
    blocks = [{"id": b, "kind": "step", "owner": b % 2, "length": 3, "text": ""} for b in range(100)]
    fig = attention_heatmap([[0.01] * 100, [0.01] * 100], blocks, ["Alice", "Bob"])
    assert len(fig.layout.xaxis.tickvals) <= 25 and fig.layout.xaxis.tickvals[0] == 0
    assert "blank rows" not in (fig.layout.title.subtitle.text or "")
    many = [{"id": b, "kind": "step", "owner": b % 8, "length": 20, "text": ""} for b in range(400)]
    assert len(attention_heatmap([[0.01] * 400] * 8, many, ["A"] * 8).layout.xaxis.tickvals) <= 16


def test_heatmap_without_data_says_so():
    fig = attention_heatmap(None, [], [])
    assert not fig.data and "no attention" in fig.layout.annotations[0].text


def _passes(n, W=2):
    return [pass_record(W, pass_number=i + 1,
                        shares=([[0.1, 0.2, 0.7]] + [None] * (W - 1)) if i % 2 else [[0.3, 0.3, 0.4]] * W)
            for i in range(n)]


def test_timeline_one_row_per_worker_stacked_shares():
    fig = attention_timeline(_passes(6), NAMES[:2])
    assert len(fig.data) == 3 * 2
    alice = [t for t in fig.data if t.stackgroup == "worker-0"]
    own, others, shared = alice
    assert [t.name for t in alice] == ["its own tokens", "other workers' tokens", "prompt & headers"]
    assert list(own.x) == [1, 2, 3, 4, 5, 6] and own.yaxis == "y" and fig.data[3].yaxis == "y2"
    assert list(own.y) == [0.3, 0.1, 0.3, 0.1, 0.3, 0.1] and list(shared.y)[1] == 0.7
    bob_own = next(t for t in fig.data if t.stackgroup == "worker-1")
    assert list(bob_own.y)[1] is None          # Bob did not run in pass 2
    assert sum(t.showlegend for t in fig.data) == 3      # one legend entry per share kind
    assert worker_colour(1) in fig.layout.yaxis2.ticktext[0] and "Bob" in fig.layout.yaxis2.ticktext[0]
    assert fig.layout.xaxis2.title.text == "pass"
    assert fig.layout.legend.yref == "container"        # the legend sits below the plot, not over the title


def test_timeline_keeps_its_height_at_eight_workers():
    names = ["Alice", "Bob", "Carol", "Dave", "Eve", "Frank", "Grace", "Heidi"]
    eight = attention_timeline(_passes(6, W=8), names)
    assert eight.layout.height == attention_timeline(_passes(6), NAMES[:2]).layout.height
    assert len(eight.data) == 24


def test_timeline_thins_long_runs_but_keeps_the_last_pass():
    fig = attention_timeline(_passes(5 * MAX_POINTS + 3), ["Alice", "Bob"])
    xs = list(fig.data[0].x)
    assert len(xs) <= MAX_POINTS + 1 and xs[0] == 1 and xs[-1] == 5 * MAX_POINTS + 3


def test_timeline_without_data_says_so():
    fig = attention_timeline([pass_record(1)], ["Alice"])
    assert not fig.data and any("no attention" in a.text for a in fig.layout.annotations)


def test_the_first_screens_heatmap_svg_draws_the_figures_cells_and_labels_as_safe_svg():
    import xml.etree.ElementTree as ET

    from demo.static_chart import heatmap_svg
    names = ["Alice", "<img src=x onerror=alert(1)>", "Carol"]
    matrix = [[0.7, 0.2, 0.0], [0.0, 0.0, 0.0], [0.5, 0.25, 0.25]]
    svg = heatmap_svg(attention_heatmap(matrix, BLOCKS, names, title="pass 7 & 8"), 300)
    root = ET.fromstring(svg)                       # well-formed: a stray "<" would not parse
    ns = "{http://www.w3.org/2000/svg}" if root.tag.startswith("{") else ""
    rects = root.findall(f"{ns}rect")
    assert len(rects) == 6                          # the worker that did not run has no cells
    fills = [r.get("fill") for r in rects]
    assert fills[0] == "rgb(253, 231, 37)" and fills[2] == "rgb(68, 1, 84)"    # Viridis' top and bottom
    texts = ["".join(t.itertext()) for t in root.iter(f"{ns}text")]
    assert "pass 7 & 8" in texts and "<img src=x onerror=alert(1)>" in texts     # shown as text, not markup
    assert "<img" not in svg and {"prompt", "<1", "A1…"} <= set(texts)     # "<1": the name's initial
    assert root.get("height") == "300"
    assert heatmap_svg(attention_heatmap(None, [], []), 300) == ""

"""HTML panels: model text, trace contents and visitor input are escaped; colours follow the worker."""

from types import SimpleNamespace

import pytest

from demo import render
from demo.palette import SHARED_COLOUR, WORKER_COLOURS, tint, worker_colour
from demo.records import RunLog
from tests.pass_records import pass_record

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_lane_escapes_model_text_and_marks_inserted_prompts():
    html = render.lane_html("Bob", 1, [["**Bob [1]:** ", True], [EVIL + " & done", False]], 7)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html and "&amp; done" in html
    assert '<span class="hw-ins"><span class="hw-step"' in html and "Bob · step 1</span> </span>" in html
    assert "**Bob" not in html and 'id="lane-1"' in html
    assert WORKER_COLOURS[1] in html and "7 tokens" in html


def test_step_labels_in_the_authors_colour_and_chat_markers_as_tags():
    html = render.rich_text("**Alice [2]:** hi **Bob [3]:** <|im_start|>user\n<b>x</b><|im_end|>", ["Alice", "Bob"])
    assert html.count('class="hw-step"') == 2 and "Alice · step 2" in html and "Bob · step 3" in html
    assert f"background:{WORKER_COLOURS[1]}" in html
    assert '<span class="hw-tag">im_start</span>user' in html and "&lt;|" not in html and "<|" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    # a label or marker made of markup stays text
    evil = render.rich_text("**<img src=x> [1]:** <|<script>|>", ["Alice"])
    assert "<img" not in evil and "<script>" not in evil and "&lt;img" in evil


def test_lanes_grid_has_at_most_four_columns():
    for W, cols, rows in ((1, 1, 1), (2, 2, 1), (4, 4, 1), (5, 4, 2), (8, 4, 2)):
        html = render.lanes_html([render.lane_html(f"w{w}", w, []) for w in range(W)])
        assert f"--hw-cols:{cols};--hw-rows:{rows}" in html and html.count('class="hw-lane"') == W


def test_lane_names_are_escaped_too():
    assert "<b>&lt;i&gt;</b>" in render.lane_html("<i>", 0, [])


def test_empty_lane_says_it_is_waiting():
    assert "waiting" in render.lane_html("Alice", 0, [])


def test_history_in_order_coloured_by_author_and_escaped():
    html = render.history_html([[5, 1, "Bob's step"], [3, 0, EVIL]], ["Alice", "Bob"], True)
    assert html.index("Bob&#x27;s step") < html.index("&lt;script&gt;")
    assert "#1 · Bob" in html and "#2 · Alice" in html
    assert "<script>" not in html and worker_colour(1) in html


def test_history_for_layouts_without_one():
    assert "no shared history" in render.history_html([], ["Alice"], False)


def test_view_lists_blocks_in_view_order_with_positions():
    blocks = [{"id": 0, "kind": "prompt", "owner": None}, {"id": 1, "kind": "step", "owner": 1},
              {"id": 2, "kind": "current", "owner": 0}]
    view = [[0, 0, 10, "prompt <b>"], [1, 10, 4, "Bob did"], [2, 14, 3, "mine"]]
    html = render.view_html(view, blocks, ["Alice", "Bob"], 0)
    assert html.index("prompt &lt;b&gt;") < html.index("Bob did") < html.index("mine")
    assert "positions 10–13 · 4 tokens" in html and "Alice (own)" in html and "finished step" in html
    assert SHARED_COLOUR in html and tint(worker_colour(1)) in html
    assert "17 positions" in html
    # the shared prompt is folded away: the view opens on the first block after it
    assert html.index("<details") < html.index("prompt &lt;b&gt;") < html.index("</details>") < html.index("Bob did")


def test_replays_say_where_they_were_recorded():
    log = RunLog(meta={"settings": {"layout": "combined"}, "worker_names": ["Alice"], "model": "m", "label": "x",
                       "num_layers": 2, "recording": {"machine": "<cpu>", "date": "2026-01-02", "model": "M"}})
    stats = render.stats_html(log)
    assert "Recording, not live: recorded on &lt;cpu&gt;, 2026-01-02 with M" in stats
    assert "Recording" not in render.stats_html(RunLog(meta=dict(log.meta, recording=None)))


def test_gallery_caption_and_diagram():
    from demo.gallery import GalleryEntry
    entry = GalleryEntry(path="x.json", title="<t>", caption="look <here>", model="M", machine="cpu", date="d",
                         command="python -m experiments.record_gallery --name x")
    html = render.gallery_html(entry)
    assert "&lt;t&gt;" in html and "look &lt;here&gt;" in html and "recorded on cpu, d" in html
    assert "No recorded runs" in render.gallery_html(None)
    svg = render.layouts_svg()
    assert svg.startswith("<svg") and all(name in svg for name in ("contiguous", "interleaved", "combined"))


def test_stats_and_answer_and_compare_escape():
    log = RunLog(meta={"settings": {"layout": "combined"}, "worker_names": ["Alice", "Bob"], "model": "<m>",
                       "label": "Hogwild!", "num_layers": 2})
    log.add_pass(pass_record(2, elapsed=2.0, seconds=0.1, cache_tokens=100, cache_bytes=2**20,
                             tokens=[5, None], pieces=[[("a", False)], []]))
    stats = render.stats_html(log)
    assert "0.5 tok/s" in stats and "100 tok · 1.0 MB" in stats and "&lt;m&gt;" in stats
    log.status, log.answer = "finished", "<b>42</b>"
    assert "&lt;b&gt;42&lt;/b&gt;" in render.answer_html(log)
    table = render.compare_html([{"run": "x", "answer": EVIL, "sequential passes": 3}])
    assert "<script>" not in table and "&lt;script&gt;" in table


def test_messages_are_escaped_and_typed():
    html = render.message_html("bad <path>")
    assert "bad &lt;path&gt;" in html and "hw-error" in html and 'role="alert"' in html
    assert "hw-info" in render.message_html("ok", "info")
    assert render.message_html("") == ""


def test_palette_is_distinct_and_shared_is_grey():
    assert len(set(WORKER_COLOURS)) == 8 == len(WORKER_COLOURS)
    assert worker_colour(None) == SHARED_COLOUR and worker_colour(8) == worker_colour(0)
    assert tint("#FF0000", 0.5) == "rgba(255,0,0,0.5)"


@pytest.mark.parametrize("latex, shown", [
    ("150 \\text{ km}", "150 km"), ("\\frac{3}{4}", "3/4"), ("\\dfrac{a+b}{2}", "(a+b)/2"),
    ("\\frac{\\frac{1}{2}}{3}", "(1/2)/3"), ("2 \\times 9 = 18", "2 × 9 = 18"), ("\\$18", "$18"), ("25\\%", "25%"),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "( 3, π/2 )"), ("x^{2}+1", "x^2+1"), ("10 \\le x \\leq 12", "10 ≤ x ≤ 12"),
    ("(a) 24, (b) 480", "(a) 24, (b) 480"), ("\\textbf{Cora}", "Cora"),
])
def test_readable_math(latex, shown):
    assert render.readable_math(latex) == shown


def test_the_final_answer_is_shown_readable_and_escaped():
    log = SimpleNamespace(status="finished", answer="150 \\text{ km} <script>")
    html = render.answer_html(log)
    assert "<b title=\"150 \\text{ km} &lt;script&gt;\">150 km &lt;script&gt;</b>" in html and "<script>" not in html

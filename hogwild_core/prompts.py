"""The collaboration prompts (after the paper, in our own words) and the text rules around them:
where a reasoning step ends, how a step is labelled, how the final answer is read."""

import re

WORKER_NAMES = ("Alice", "Bob", "Carol", "Dave", "Eve", "Frank", "Grace", "Heidi")

CHECK_TEXT = "Quick check: am I doing redundant work? (yes/no):"
FINAL_ANSWER_TEXT = "\n\nTime is up. Putting our work together, the final answer is \\boxed{"
# How the forced answer is asked for: "plain" (the text above, for every problem) or "listed" (for
# a problem of k > 1 questions it restates the problem's format: k answers, in order, by commas, in
# one box; for one question it is the plain text). docs/evaluation.md, "The answer prompt".
ANSWER_PROMPTS = ("plain", "listed")
HEADER_OTHERS_TEXT = "\n\n### Steps the others are writing right now\n\n"
HEADER_OWN_TEXT = "\n\n### My own current step\n\n"


def final_answer_text(style: str = "plain", num_answers: int = 1) -> str:
    """The forced-answer text appended to the answerer's transcript (ANSWER_PROMPTS)."""
    if style not in ANSWER_PROMPTS:
        raise ValueError(f"answer prompt must be one of {', '.join(ANSWER_PROMPTS)}; got {style!r}")
    if style == "plain" or num_answers < 2:
        return FINAL_ANSWER_TEXT
    return (f"\n\nTime is up. Putting our work together, the final answers to the {num_answers} questions, "
            "in order, separated by commas, are \\boxed{")


def is_final_answer_text(text: str) -> bool:
    """Whether inserted text holds a forced-answer prompt (of any style)."""
    return "Time is up. Putting our work together, the final answer" in text


_LAYOUT_NOTES = {
    "contiguous": "Each of you writes in your own area; you see the other assistants' areas above "
                  "yours, growing word by word.",
    "interleaved": "When one of you finishes a paragraph, it is added to a shared history that "
                   "everyone sees, labelled with its author and step number.",
    "combined": "Finished paragraphs go into a shared history, labelled with author and step number; "
                "below it you see the paragraphs the others are writing right now, word by word, "
                "and then your own.",
}

SPLITS = ("chosen", "planned")     # who splits the work: the workers (the paper's protocol), or us (an ablation)

# Rules every method reads; the team adds those that only make sense with others.
_COMMON_RULES = (
    "- One short paragraph per step, one idea or calculation each, with the numbers written out.\n"
    "- Do not copy the question: go straight to the calculation.\n"
    "- Work until every question is answered and checked."
)

_PART_LABEL = re.compile(r"(?:^|\s)\(([a-h])\)\s", re.M)
_PART_LINE = re.compile(r"^\s*(?:question\s*|part\s*)?(\d)[.):]\s+", re.I | re.M)


def problem_parts(problem: str) -> list[str]:
    """The labelled parts of a problem, in order: "(a) ... (b) ..." or lines "1. ... 2. ...";
    [] when it has fewer than two. The labels must run a, b, c... (or 1, 2, 3...) from the
    first; a later mention such as "(a) + (b)" ends the last part."""
    for pattern, first in ((_PART_LABEL, "a"), (_PART_LINE, "1")):
        marks = []
        for m in pattern.finditer(problem):
            if m.group(1).lower() != chr(ord(first) + len(marks)):
                if marks:
                    break
                continue
            marks.append(m)
        if len(marks) >= 2:
            tail = pattern.search(problem, marks[-1].end())
            ends = [m.start() for m in marks[1:]] + [tail.start() if tail else len(problem)]
            return [problem[m.end():end].strip() for m, end in zip(marks, ends)]
    return []


def part_label(index: int, numbered: bool = False) -> str:
    return f"{index + 1}" if numbered else f"({chr(ord('a') + index)})"


def assignment(num_parts: int, num_workers: int) -> list[list[int]]:
    """Parts per worker, round robin; a worker left without a part gets none (it checks others)."""
    return [list(range(w, num_parts, num_workers)) for w in range(num_workers)]


def _labels(problem: str) -> list[str]:
    parts = problem_parts(problem)
    numbered = bool(parts) and not _PART_LABEL.search(problem)
    return ["part " + part_label(i, numbered) for i in range(len(parts))]


def _plan(problem: str, num_workers: int) -> str | None:
    """An explicit split when the problem has labelled parts, e.g. "Alice: part (a). Bob: part (b)."."""
    labels = _labels(problem)
    if not labels:
        return None
    lines = []
    for w, mine in enumerate(assignment(len(labels), num_workers)):
        task = " and ".join(labels[i] for i in mine) if mine else "check the others' results as they come"
        lines.append(f"{WORKER_NAMES[w]}: {task}.")
    return " ".join(lines) + " When your part is done, state its result in one sentence, then check " \
        "another part or combine the results."


def system_prompt(num_workers: int, layout: str, problem: str = "", split: str = "chosen") -> str:
    """The rules. One worker and independent workers read the common rules; a team also reads how
    the workspace works and how to share the work: by default the workers choose their own split
    (the paper's protocol); split="planned" gives them ours when the problem has labelled parts
    (an ablation). No worked example: on the development set the 1.5B model copied the example's
    objects and sentences into its work ("each spider can bring in 1 person", "Bob, can you take
    the ants?"), whichever method read it."""
    if num_workers == 1 or layout == "independent":
        return f"You are Alice, a careful problem solver. Reason step by step.\n\nRules:\n{_COMMON_RULES}"
    names = list(WORKER_NAMES[:num_workers])
    team = ", ".join(names[:-1]) + f" and {names[-1]}"
    plan = _plan(problem, num_workers) if split == "planned" else None
    if plan:
        share = f"- Split the work as planned: {plan}"
    else:
        share = ("- Decide together how to share the work: in your first step, say which part you take. If "
                 "someone already took a part, take another one, or check their result.")
    return (
        f"You are {team}: {num_workers} assistants solving one problem together, at the same time, in a "
        f"shared workspace. Each of you sees what the others write as they write it. {_LAYOUT_NOTES[layout]}\n\n"
        "Rules:\n"
        f"{share}\n"
        "- Never redo what another assistant is doing or has done: use their result instead.\n"
        "- If you notice you are doing the same as someone else, stop, say so, and switch to something "
        "nobody is doing.\n"
        "- Write only as yourself: the workspace labels your steps, never write a name label yourself.\n"
        f"{_COMMON_RULES}"
    )


def step_prefix(name: str, step: int) -> str:
    return f"**{name} [{step}]:**"


# step_prefix's label as readers find it in text: group 1 the name, group 2 the step number
STEP_LABEL = re.compile(r"\*\*([^*\[\]\n]{1,40}) \[(\d{1,5})\]:\*\*")


def worker_opener(w: int, num_workers: int, layout: str = "combined", problem: str = "",
                  split: str = "chosen") -> str:
    """The first words of worker w: its label; in a team that chooses its split, Alice's label opens
    a proposal; with split="planned" and labelled parts, the start of a sentence about the part we
    gave it. No full sentence a model could parrot step after step."""
    name = WORKER_NAMES[w]
    if num_workers == 1 or layout == "independent":
        return step_prefix(name, 1)
    if split != "planned":
        # The workers choose: Alice opens the discussion (as in the authors' prompts), the others
        # read her proposal as it is written and answer it; what the split is, they decide.
        return step_prefix(name, 1) + (" Here is how we can split the work:" if w == 0 else "")
    labels = _labels(problem)
    if labels:
        mine = assignment(len(labels), num_workers)[w]
        # Mid-sentence, so the model goes on with the calculation: after "Part (a):" a 1.5B model
        # restated the question step after step; after "For part (a)," it computed (prompt study).
        if mine:
            return step_prefix(name, 1) + f" For {labels[mine[0]]},"
        return step_prefix(name, 1) + " To check the others' results,"
    return step_prefix(name, 1)


def build_messages(problem: str, num_workers: int, layout: str, user_text: str | None = None,
                   split: str = "chosen") -> list[dict]:
    """The chat messages. The system prompt reads the problem (for its parts); `user_text`, if
    given, stands in for the problem in the user message (the engine tokenizes the problem apart)."""
    return [{"role": "system", "content": system_prompt(num_workers, layout, problem, split)},
            {"role": "user", "content": problem.strip() if user_text is None else user_text}]


def render_plain(messages: list[dict]) -> str:
    """Prompt text for tokenizers without a chat template."""
    parts = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n\n".join(parts) + "\n\nAssistant:"


_SENTENCE_END = re.compile(r"[.!?。](?:[*_\"'’”)\]$]*)$")


def is_step_end(text: str) -> bool:
    """True if `text` (one step or paragraph) just reached a paragraph break that closes it:
    "\\n\\n" after sentence-ending text or after a closed display equation ("\\]", "$$"),
    outside any open code block or display math."""
    stripped = text.rstrip(" \t")
    if not stripped.endswith("\n\n"):
        return False
    body = stripped.rstrip()
    if not (_SENTENCE_END.search(body) or body.endswith(("\\]", "$$"))):
        return False
    if body.count("```") % 2 == 1 or body.count("$$") % 2 == 1:
        return False
    return body.count("\\[") <= body.count("\\]")


def boxed_close(text: str) -> int | None:
    """Index just past the brace that closes the \\boxed{ opened at the start of `text`
    (text follows the opening brace), or None while it is still open."""
    depth = 1
    for i, ch in enumerate(text):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
    return None


def last_boxed(text: str) -> str | None:
    """Contents of the last complete \\boxed{...} in text."""
    start = text.rfind("\\boxed{")
    while start != -1:
        inner = text[start + len("\\boxed{"):]
        end = boxed_close(inner)
        if end is not None:
            return inner[:end].strip()
        start = text.rfind("\\boxed{", 0, start)
    return None


def drop_thousands(text: str) -> str:
    """'180,000' -> '180000': a comma before exactly three digits is a thousands separator."""
    return re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)


def num_answers(text: str) -> int:
    """How many answers a box holds: its comma- or semicolon-separated non-empty pieces, thousands
    separators aside ("3, 78, 36" -> 3; "180,000" -> 1; "" -> 0). The final box ends the reasoning
    once it holds every question's answer."""
    return len([p for p in re.split(r"[;,]", drop_thousands(text)) if p.strip()])


# ---- workers whose text comes from outside (a person joining the run) -----------------------------
# Kept apart from system_prompt: the engine appends this paragraph to the system message of a run
# with external workers (hogwild_core/text.py), in every layout whose views show them.
def external_worker_note(names: tuple[str, ...], layout: str) -> str:
    """What the model workers are told about external workers (e.g. a person named "You"), as a
    paragraph to append to the system prompt; "" where the layout hides them (independent)."""
    if not names or layout == "independent":
        return ""
    quoted = " and ".join(f'"{name}"' for name in names)
    labels = ", ".join(f"**{name} [1]:**" for name in names)
    return (f"\n\nA person may join this workspace as {quoted}. Their paragraphs are labelled like yours "
            f"({labels}, then [2], [3] ...), and they may also write nothing at all. When they write, read it "
            "carefully: use any result they give, and if they take a part or ask one of you to do something, "
            "do that instead of the plan. Never write under their label.")

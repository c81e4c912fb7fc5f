"""The collaboration prompts (after the paper, in our own words) and the text rules around them:
where a reasoning step ends, how a step is labelled, how the final answer is read."""

import re

WORKER_NAMES = ("Alice", "Bob", "Carol", "Dave", "Eve", "Frank", "Grace", "Heidi")

CHECK_TEXT = "Quick check: am I doing redundant work? (yes/no):"
FINAL_ANSWER_TEXT = "\n\nTime is up. Putting our work together, the final answer is \\boxed{"
HEADER_OTHERS_TEXT = "\n\n### Steps the others are writing right now\n\n"
HEADER_OWN_TEXT = "\n\n### My own current step\n\n"

_LAYOUT_NOTES = {
    "contiguous": "Each of you writes in your own area; you see every other assistant's area "
                  "above yours, growing token by token.",
    "interleaved": "When one of you finishes a paragraph, it is added to a shared history that "
                   "everyone sees, labelled with its author and step number.",
    "combined": "Finished paragraphs go into a shared history, labelled with author and step "
                "number; below it you also see the paragraphs the others are writing right now, "
                "word by word, and then your own.",
}


def system_prompt(num_workers: int, layout: str) -> str:
    names = list(WORKER_NAMES[:num_workers])
    if num_workers == 1 or layout == "independent":
        return ("You are Alice, a careful problem solver. Reason step by step, in short "
                "paragraphs, and give the final answer as \\boxed{...}.")
    team = ", ".join(names[:-1]) + f" and {names[-1]}"
    return (
        f"You are one of {num_workers} assistants ({team}) solving the same problem together, "
        "at the same time, in a shared workspace. Everything each of you writes is visible to "
        f"the others as it is written. {_LAYOUT_NOTES[layout]}\n\n"
        "How to work well together:\n"
        "- Split the work: propose who does what early, and take a part nobody has started.\n"
        "- Do not repeat what another assistant is already doing; read their work and build on it.\n"
        "- React to the others: check their results, point out mistakes, answer their questions.\n"
        "- If your plan turns out to be redundant or wrong, say so and pivot to something useful.\n"
        "- Write in short paragraphs. The final answer goes in \\boxed{...}."
    )


def step_prefix(name: str, step: int) -> str:
    return f"**{name} [{step}]:**"


def worker_opener(w: int, num_workers: int, layout: str = "combined", problem: str = "") -> str:
    """The first words of worker w. They point straight at the problem and at a part of it:
    small models given a greeting to continue tend to keep greeting."""
    name = WORKER_NAMES[w]
    if num_workers == 1 or layout == "independent":
        return step_prefix(name, 1) + " Let me solve this step by step, starting with"
    if w == 0:
        return step_prefix(name, 1) + " Let me start with the first part of the problem."
    if w == 1:
        return step_prefix(name, 1) + " I will take a different part than Alice. Let me start with part"
    return step_prefix(name, 1) + " I will take a part that nobody has started yet. Let me work on part"


def build_messages(problem: str, num_workers: int, layout: str) -> list[dict]:
    return [{"role": "system", "content": system_prompt(num_workers, layout)},
            {"role": "user", "content": problem.strip()}]


def render_plain(messages: list[dict]) -> str:
    """Prompt text for tokenizers without a chat template."""
    parts = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n\n".join(parts) + "\n\nAssistant:"


_SENTENCE_END = re.compile(r"[.!?。](?:[*_\"'’”)\]$]*)$")


def is_step_end(text: str) -> bool:
    """True if `text` (one step or paragraph) just reached a paragraph break that closes it:
    "\\n\\n" after sentence-ending text, outside any open code block or display math."""
    stripped = text.rstrip(" \t")
    if not stripped.endswith("\n\n"):
        return False
    body = stripped.rstrip()
    if not _SENTENCE_END.search(body):
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

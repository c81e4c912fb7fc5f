"""The prompt wording before the prompt study (hogwild_core/prompts.py as it was), kept so the
study can run its "before" variant: only the functions the study swaps in. The text rules (step
ends, the boxed answer) are unchanged and live in hogwild_core/prompts.py."""

from hogwild_core.prompts import WORKER_NAMES, step_prefix

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

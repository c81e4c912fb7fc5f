"""Reading and checking final answers: pure text functions, standard library only.

Contract: `extract_answer(text)` pulls the answer out of what a model wrote (the last complete
\\boxed{...}, else an unclosed one, else the text itself: the forced answer the engine returns is
already the inside of \\boxed{); `canonical(answer, num_parts)` gives the form two answers are
compared (and voted) in; `is_correct(predicted, reference)` says whether they agree, where the
reference is a string, a number, or a list of those (a multi-part problem: every part must agree,
`part_correct` gives the parts one by one).

What counts as the same answer:
* numbers: "1,897", "$1897", "1897.0", "\\$1,897", "1897 dollars", "\\text{1897}" are 1897;
  "\\frac{3}{4}", "\\dfrac34", "3/4", "0.75" agree; "25%" matches 25 (and 0.25); simple arithmetic
  ("9*2", "16-3-4 = 9") is evaluated, and with "=" the right-most side counts;
* against a numeric reference, text that is not one number counts only if it holds exactly one
  number ("Janet makes $18 a day" is 18); a hedge holds several and counts as no answer: two
  candidates ("2 or 3"), a range ("between 20 and 24"), an enumeration ("1, 2, 3, ..., 24"), or
  working ("9 eggs x $2 = $18 so 18"); so does a placeholder ("<number>"); against any other
  reference both are compared as normalised text (spaces, \\left/\\right, \\text{}, \\dfrac, a
  trailing period dropped);
* lists: "3, 5, 7", "[3,5,7]", "(a) 3 (b) 5", "a) 3; b) 5", "3 and 5"; a comma before exactly
  three digits with no space is a thousands separator unless that would leave too few parts.
"""

import ast
import re
from fractions import Fraction
from typing import Sequence

from hogwild_core.prompts import boxed_close, drop_thousands

BOXED = "\\boxed{"
_TOLERANCE = 1e-6


# ---- extraction ------------------------------------------------------------------------------
def boxed_contents(text: str) -> list[str]:
    """Every complete \\boxed{...} in text, in order."""
    found, start = [], text.find(BOXED)
    while start != -1:
        inner = text[start + len(BOXED):]
        end = boxed_close(inner)
        if end is not None:
            found.append(inner[:end].strip())
        start = text.find(BOXED, start + len(BOXED))
    return found


def extract_answer(text: str | None) -> str | None:
    """The answer in `text`: its last complete \\boxed{}, else what follows an unclosed one, else
    the text itself up to its first blank line, without stray closing braces. None if empty."""
    if text is None:
        return None
    boxed = boxed_contents(text)
    if boxed:
        answer = boxed[-1]
    else:
        start = text.rfind(BOXED)
        answer = text[start + len(BOXED):] if start != -1 else text
        end = boxed_close(answer)              # a forced answer whose brace closed: keep the inside
        if end is not None:
            answer = answer[:end]
        answer = answer.strip().split("\n\n")[0]
    answer = answer.strip()
    while answer.endswith("}") and answer.count("}") > answer.count("{"):
        answer = answer[:-1].rstrip()
    return answer or None


# ---- normalising -----------------------------------------------------------------------------
# LaTeX around plain text ("\text{ km}": group 1) and a braced fraction (groups 1 and 2); the page's
# readable answer (demo/render.py) unwraps the same commands
LATEX_TEXT = re.compile(r"\\(?:text|textbf|textrm|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
LATEX_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_FRAC = re.compile(LATEX_FRAC.pattern + r"|\\[dt]?frac\s*(\d)\s*(\d)")    # and "\frac34"
_UNITS = re.compile(r"(?<=[\d\s])(?:dollars?|cents?|usd|euros?|hours?|minutes?|mins?|seconds?|days?|weeks?|"
                    r"months?|years?|miles?|km|meters?|cm|inches|feet|pounds?|lbs?|kg|grams?|units?|"
                    r"people|students?|apples?|eggs?|per\s+\w+)\b\.?", re.I)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)?")


def _strip_latex(text: str) -> str:
    text = text.replace("\\!", "").replace("\\,", "").replace("\\;", "").replace("\\ ", " ")
    text = text.replace("\\left", "").replace("\\right", "").replace("\\displaystyle", "")
    text = text.replace("^\\circ", "").replace("^{\\circ}", "").replace("\\circ", "")
    text = text.replace("\\$", "").replace("$", "").replace("\\%", "%")
    text = text.replace("\\times", "*").replace("\\cdot", "*").replace("×", "*").replace("÷", "/")
    text = text.replace("\\div", "/").replace("−", "-")
    for _ in range(3):                                   # nested \text{\textbf{..}}
        text = LATEX_TEXT.sub(r"\1", text)
    # 1\frac{1}{2} is a mixed number; \frac{a}{b} alone a quotient.
    text = re.sub(r"(\d)\s*\\[dt]?frac", r"\1+\\frac", text)
    for _ in range(3):
        text = _FRAC.sub(lambda m: f"(({m.group(1) or m.group(3)})/({m.group(2) or m.group(4)}))", text)
    return text


def _evaluate(expression: str) -> Fraction | None:
    """Value of a small arithmetic expression (+ - * / ^ and parentheses), exactly, or None."""
    expression = expression.replace("^", "**").strip()
    if not expression or len(expression) > 200 or not re.fullmatch(r"[\d\s.+\-*/()]+", expression):
        return None
    try:
        tree = ast.parse(expression, mode="eval")
    except (SyntaxError, ValueError):
        return None

    def value(node) -> Fraction:
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return Fraction(str(node.value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = value(node.operand)
            return -inner if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.BinOp):
            a, b = value(node.left), value(node.right)
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                return a * b
            if isinstance(node.op, ast.Div):
                return a / b
            if isinstance(node.op, ast.Pow) and b.denominator == 1 and abs(b) <= 64 and abs(a) < 10**6:
                return a ** int(b)
        raise ValueError("not simple arithmetic")

    try:
        return value(tree)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None


def parse_number(text: str | int | float | None) -> Fraction | None:
    """The number `text` stands for, or None. See the module docstring for what is accepted;
    a percentage is returned as its number (25% -> 25)."""
    if text is None:
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return Fraction(str(text))
    text = drop_thousands(_strip_latex(str(text)))
    text = _UNITS.sub("", text).replace("%", "").strip().rstrip(".").strip()
    text = re.sub(r"^(?:[a-zA-Z]\w*\s*=|the answer is|answer:)\s*", "", text, flags=re.I)
    if "=" in text:                                      # "9*2 = 18": the right-most side
        text = text.rsplit("=", 1)[1].strip()
    return _evaluate(text)


def only_number(text: str) -> Fraction | None:
    """The one number written in `text`, or None if it holds none or several different ones."""
    values = {_evaluate(n) for n in _NUMBER.findall(drop_thousands(_strip_latex(text)))}
    values.discard(None)
    return values.pop() if len(values) == 1 else None


def normalize_text(text: str) -> str:
    text = _strip_latex(text).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    text = re.sub(r"\s+", "", text).rstrip(".").lower()
    return re.sub(r"^(?:[a-z]=)", "", text)


def value_of(text, numeric: bool = True) -> Fraction | str | None:
    """A single answer as a number if it is one (or, when a number is expected, holds exactly
    one), else normalised text."""
    if text is None:
        return None
    number = parse_number(text)
    if number is not None:
        return number
    text = str(text)
    if numeric:
        number = only_number(text)
        if number is not None or _NUMBER.search(text):
            return number              # None for a hedge: several numbers are no answer
    return normalize_text(text) or None


def _same(a, b) -> bool:
    if a is None or b is None:
        return False
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return abs(a - b) <= _TOLERANCE * max(1, abs(b))
    return a == b


# ---- lists -----------------------------------------------------------------------------------
_LABEL = re.compile(r"(?:^|(?<=[\s,;:(\[]))\(?([a-h])\)\s*[:=]?\s*|(?:^|(?<=[\s,;]))([a-h])\s*[:=]\s*", re.I)


def _labelled(text: str, num_parts: int) -> list[str | None] | None:
    """'(a) 3 (b) 5' -> ['3', '5']; None unless at least one label a..h is found in order."""
    marks = [(m.start(), m.end(), (m.group(1) or m.group(2)).lower()) for m in _LABEL.finditer(text)]
    parts: list[str | None] = [None] * num_parts
    found = False
    for i, (_, end, label) in enumerate(marks):
        index = ord(label) - ord("a")
        if index >= num_parts or parts[index] is not None:
            continue
        stop = marks[i + 1][0] if i + 1 < len(marks) else len(text)
        piece = text[end:stop].strip().strip(",;").strip()
        if piece:
            parts[index], found = piece, True
    return parts if found else None


def split_parts(text: str | None, num_parts: int) -> list[str | None]:
    """Split an answer into `num_parts` pieces (None where a part is missing)."""
    if text is None:
        return [None] * num_parts
    text = text.strip()
    labelled = _labelled(text, num_parts)
    if labelled is not None:
        return labelled
    inner = text
    if len(inner) >= 2 and inner[0] + inner[-1] in ("[]", "()", "{}"):
        inner = inner[1:-1]
    for candidate in (drop_thousands(inner), inner):
        pieces = [p.strip() for p in re.split(r"\s*(?:;|,|\band\b|\n)\s*", candidate) if p.strip()]
        if len(pieces) == num_parts:
            return pieces
    numbers = _NUMBER.findall(drop_thousands(_strip_latex(text)))
    if len(numbers) == num_parts:
        return numbers
    pieces = [p.strip() for p in re.split(r"\s*(?:;|,|\n)\s*", inner) if p.strip()]
    return (pieces + [None] * num_parts)[:num_parts]


def parts_given(predicted: str | None, num_parts: int) -> int:
    """How many of a multi-part problem's answers `predicted` gives at all (right or wrong): "26"
    for five questions gives 1, "2, 64, 36, 30" gives 4."""
    return sum(piece is not None for piece in split_parts(extract_answer(predicted), num_parts))


# ---- checking --------------------------------------------------------------------------------
def _is_list(reference) -> bool:
    return isinstance(reference, (list, tuple))


def part_correct(predicted: str | None, reference: Sequence) -> list[bool]:
    """Per part of a multi-part reference, whether the predicted answer got it right."""
    answer = extract_answer(predicted)
    pieces = split_parts(answer, len(reference))
    return [_single_correct(p, r) for p, r in zip(pieces, reference)]


def _single_correct(predicted: str | None, reference) -> bool:
    if predicted is None or reference is None:
        return False
    theirs = value_of(reference, numeric=False)
    mine = value_of(predicted, numeric=isinstance(theirs, Fraction))
    if _same(mine, theirs):
        return True
    # "25%" against a reference of 0.25
    if isinstance(mine, Fraction) and isinstance(theirs, Fraction) and "%" in str(predicted):
        return _same(mine / 100, theirs)
    return False


def is_correct(predicted: str | None, reference) -> bool:
    """Whether `predicted` (a model's answer or text holding a \\boxed{}) agrees with `reference`
    (a string or number, or a list of them for a multi-part problem: all parts must agree)."""
    if _is_list(reference):
        return bool(reference) and all(part_correct(predicted, reference))
    return _single_correct(extract_answer(predicted), reference)


def canonical(predicted: str | None, num_parts: int = 1) -> str | None:
    """The form answers are voted in: equal answers get equal strings ('18', '3/4', '[3, 5]')."""
    answer = extract_answer(predicted)
    if answer is None:
        return None
    if num_parts > 1:
        values = [value_of(p) for p in split_parts(answer, num_parts)]
        return "[" + ", ".join("?" if v is None else str(v) for v in values) + "]"
    value = value_of(answer)
    return None if value is None else str(value)

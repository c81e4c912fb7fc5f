"""Text handling around the model: encoding the prompt and inserted text, decoding each worker's
tokens incrementally, cutting text from outside into paragraphs, and the end-of-sequence ids.
The prompt *wording* lives in prompts.py."""

import re
import threading
import weakref

from . import prompts

_TOKENIZER_LOCKS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def tokenizer_lock(tokenizer) -> threading.RLock:
    """One lock per tokenizer. A fast tokenizer is not safe to share between threads: encoding
    with split_special_tokens flips a flag on the shared backend for the call, so another
    engine's prompt encoded at that moment would split "<|im_start|>" into plain text."""
    with _LOCKS_GUARD:
        lock = _TOKENIZER_LOCKS.get(tokenizer)
        if lock is None:
            lock = _TOKENIZER_LOCKS[tokenizer] = threading.RLock()
        return lock


PLACEHOLDER = "\u2063problem\u2063"  # stands for the problem while the chat template is rendered


class TextCodec:
    """The tokenizer as the engine uses it (stateless apart from it: forks of a run share it)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.has_chat_template = bool(getattr(tokenizer, "chat_template", None))
        self.lock = tokenizer_lock(tokenizer)

    def encode(self, text: str) -> list[int]:
        with self.lock:
            return self.tokenizer.encode(text, add_special_tokens=False)

    def decode(self, ids) -> str:
        return self.tokenizer.decode(list(ids))

    def prompt_parts(self, problem: str, num_workers: int, layout: str, split: str = "chosen",
                     external: tuple[str, ...] = ()) -> tuple[list[int], list[int], list[int]]:
        """The chat-formatted prompt as (template before the problem, the problem, template after
        it). The problem is user text: markers such as "<|im_end|>" in it are tokenized as plain
        text, never as the model's special tokens. The first part holds the system prompt: the
        same for every problem with one set of rules (the prefix a PromptCache keeps). `external`: names of the workers whose text comes from
        outside, the last len(external) of num_workers; the system prompt is the one of a team of
        the others, with a note about them."""
        messages = prompts.build_messages(problem, num_workers - len(external), layout, user_text=PLACEHOLDER,
                                          split=split)
        if external:
            messages[0]["content"] += prompts.external_worker_note(tuple(external), layout)
        if self.has_chat_template:
            with self.lock:
                text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            text = prompts.render_plain(messages)
        before, _, after = text.partition(PLACEHOLDER)
        return self.encode(before), self.problem_ids(problem), self.encode(after)

    def problem_ids(self, problem: str) -> list[int]:
        with self.lock:
            return self.tokenizer.encode(problem.strip(), add_special_tokens=False, split_special_tokens=True)


class Detokenizer:
    """Incremental decoding of one token stream: each call decodes only the tokens added since
    the previous call plus that call's tokens as context (so tokenizers that drop a leading
    space at the start of a decode still join words correctly). A character split across
    tokens is held back until it is complete. O(new tokens) per call."""

    def __init__(self, codec: TextCodec):
        self.codec = codec
        self.ids: list[int] = []
        self._prefix = 0    # context starts here
        self._read = 0      # text of ids[:_read] has been handed out

    def add(self, ids: list[int]) -> str:
        self.ids.extend(ids)
        context = self.codec.decode(self.ids[self._prefix:self._read])
        text = self.codec.decode(self.ids[self._prefix:])
        if text.endswith("\ufffd") or not text.startswith(context):
            return ""
        self._prefix, self._read = self._read, len(self.ids)
        return text[len(context):]


def paragraphs(text: str) -> list[str]:
    """The paragraphs of text given to an external worker: split at blank lines, each stripped,
    empty ones dropped (single line breaks stay inside a paragraph)."""
    return [part.strip() for part in re.split(r"\n[ \t]*\n", text) if part.strip()]


def eos_ids(model, tokenizer) -> frozenset[int]:
    ids = set()
    for source in (getattr(model, "generation_config", None), model.config, tokenizer):
        value = getattr(source, "eos_token_id", None)
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    return frozenset(ids)


def control_ids(tokenizer) -> frozenset[int]:
    """The tokenizer's special tokens (end of text, chat-turn markers, fill-in-the-middle and
    vision markers, ...): none belongs in a worker's reasoning. Banned with finish="boxed", where a
    1.5B model denied its end of text wrote "<|im_start|>" and began another conversation."""
    ids = set(getattr(tokenizer, "all_special_ids", []) or [])
    decoder = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    ids.update(int(i) for i, token in decoder.items() if getattr(token, "special", False))
    return frozenset(ids)


def name_labels(tokenizer, names: tuple[str, ...] = prompts.WORKER_NAMES) -> dict[int, set[tuple[int, ...]]]:
    """Per name (by its index in `names`), the token sequences of the name opened in bold ("**Bob",
    " **Bob", ...), as they tokenize after the bold marker: a worker may not write another's label."""
    labels: dict[int, set[tuple[int, ...]]] = {}
    for w, name in enumerate(names):
        labels[w] = set()
        for context in ("**", " **", "\n**", "\n\n**", ":**", ".**"):
            lead = tokenizer.encode(context, add_special_tokens=False)
            ids = tokenizer.encode(context + name, add_special_tokens=False)
            if lead and ids[:len(lead)] == lead and len(ids) > len(lead):
                labels[w].add(tuple(lead[-1:] + ids[len(lead):]))
    return labels


def heading_tokens(tokenizer) -> list[int]:
    """Ids of single tokens made of two or more '#' (markdown headings; a lone '#' stays allowed,
    it starts a Python comment)."""
    found = set()
    for text in ("##", "###", "####", " ##", " ###", " ####", "\n##", "\n###"):
        ids = tokenizer.encode(text, add_special_tokens=False)
        if len(ids) == 1 or (len(ids) == 2 and tokenizer.decode(ids[:1]).strip() == ""):
            last = ids[-1]
            if set(tokenizer.decode([last]).strip()) == {"#"} and len(tokenizer.decode([last]).strip()) >= 2:
                found.add(last)
    return sorted(found)


def newline_tokens(tokenizer) -> list[int]:
    """Ids of tokens whose text holds a line break (what can end a reasoning step), read from the
    vocabulary's spellings: byte-level "Ċ", SentencePiece's byte "<0x0A>", or a literal newline."""
    return sorted(i for token, i in tokenizer.get_vocab().items()
                  if ("Ċ" in token or "\n" in token or token == "<0x0A>") and i not in tokenizer.all_special_ids)


def colon_tokens(tokenizer) -> list[int]:
    """Ids of tokens whose text starts with ":" (with or without a leading space): what turns a
    bold name into a bare label ("**Alice" + ":**")."""
    return sorted(i for token, i in tokenizer.get_vocab().items()
                  if token.startswith((":", "Ġ:", "▁:")) and i not in tokenizer.all_special_ids)


def bracket_tokens(tokenizer) -> list[int]:
    """Ids of tokens whose text starts with "[" (with or without a leading space): what turns a
    bold name into a step label ("**David" + " [" + "2]:**"). Read from the vocabulary's own
    spellings (byte-level "Ġ" or SentencePiece "▁" for the space), without decoding 150k tokens."""
    return sorted(i for token, i in tokenizer.get_vocab().items()
                  if token.startswith(("[", "Ġ[", "▁[")) and i not in tokenizer.all_special_ids)

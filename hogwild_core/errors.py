"""The exceptions the engine raises. Every bad input ends in one of these, with a message
that says what was wrong and what is allowed; callers (CLI, app) show the message as is."""


class HogwildError(ValueError):
    """Base class: anything the engine rejects."""


class ConfigError(HogwildError):
    """An EngineConfig field is out of range or of the wrong kind."""


class PromptError(HogwildError):
    """The problem text is empty or does not fit the model's context."""


class UnsupportedModelError(HogwildError):
    """The model cannot be served exactly (no RoPE, sliding window, dynamic RoPE, ...)."""


class ModelLoadError(HogwildError):
    """The model could not be found or loaded."""


class EngineStateError(HogwildError):
    """A call made at the wrong time, e.g. run_pass() before start()."""

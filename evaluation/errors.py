"""The one error this package raises for what a user can fix (a task set that cannot be loaded,
an output folder made with other settings). The command line turns it into an exit message;
library code never exits."""


class EvaluationError(Exception):
    pass

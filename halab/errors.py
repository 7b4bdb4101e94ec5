"""One exception type that the CLI turns into a readable message (never a bare traceback)."""


class HalabError(Exception):
    """A failure the user can act on: `message` says what went wrong, `hint` what to do next."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  → {self.hint}"

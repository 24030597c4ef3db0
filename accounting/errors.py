"""Domain errors: a stable machine-readable code and the values a message needs."""


class DomainError(Exception):
    """Base of every refusal the accounting service makes; the API maps `code` to a status."""

    code = "domain_error"

    def __init__(self, code: str | None = None, /, **params):
        # `code` is positional-only, so a message parameter may itself be named `code`
        # (e.g. NotFound("source_not_found", code="BZBUS")).
        self.code = code or self.code
        self.params = params
        super().__init__(self.code, params)


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class SourceAuthError(DomainError):
    """A data source's request could not be authenticated."""

    code = "bad_signature"

"""The contract's exception family."""


class ContractError(ValueError):
    """A payload that does not satisfy the wire contract; ``reason`` says what was wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TopicError(ContractError):
    """A topic that is not one of the contract's topics."""

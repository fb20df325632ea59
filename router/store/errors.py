"""What every store backend raises when it cannot take writes."""


class StoreError(Exception):
    """The journal cannot take writes; nothing may be acknowledged."""

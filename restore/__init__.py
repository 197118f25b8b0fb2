"""All-in-one image restoration: NDR-Restore and DFPIR, synthetic degradations, evaluation."""

from restore.degradations import DEGRADATION_TYPES

__all__ = ["DEGRADATION_TYPES", "Restorer", "Analysis", "available_models"]


def __getattr__(name: str):
    # Import lazily so that `import restore` stays cheap for the degradation tools.
    if name in ("Restorer", "Analysis", "available_models"):
        from restore import inference

        return getattr(inference, name)
    raise AttributeError(f"module 'restore' has no attribute {name!r}")

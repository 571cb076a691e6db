"""Generic sentence encoder over a Hugging Face model folder (also used for ``hf://`` encoders)."""

from finehub.modules.text_encoder.encoder import TextEncoder

__all__ = ["TextEncoder"]

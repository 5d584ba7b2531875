"""Known models, the Hugging Face cache, downloads and the runtime that loads models."""

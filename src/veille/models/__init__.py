"""Known models, the Hugging Face cache, downloads, and which model each role gets (the manager and its session)."""

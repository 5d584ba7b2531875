"""Model backends: transport only (text and images in, text or boxes out), and the runtime that loads models."""

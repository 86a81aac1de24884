"""OpenAI-compatible offline fine-tuning and inference server; run with `python -m local_openai`."""

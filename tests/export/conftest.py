import os

# No test may reach a model hub: a `hf://` preset otherwise retries ~23 s.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("KAGGLE_KEY", "")

"""tf-zoo: train, fine-tune and serve transformer language models with TF + Keras 3."""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

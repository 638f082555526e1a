"""LoRA training of the keyframe models on a location's or character's pictures.

``train_lora`` (``trainer.py``) is the entry point; ``dataset.py`` finds the pictures, their
captions and buckets; ``families.py`` holds what differs between Stable Diffusion, SDXL and
FLUX; ``checkpoint.py`` the resumable checkpoints. docs/training.md describes it all.
torch, diffusers and peft are imported inside functions only.
"""

from moviola.compiler.prompts import trigger_phrase
from moviola.runtime.training.dataset import DatasetError, Example, load_examples
from moviola.runtime.training.trainer import (CheckpointSaved, TrainFinished, TrainingError,
                                              TrainResult, TrainSettings, TrainStarted, TrainStep,
                                              train_lora)

__all__ = ["CheckpointSaved", "DatasetError", "Example", "TrainFinished", "TrainResult",
           "TrainSettings", "TrainStarted", "TrainStep", "TrainingError", "load_examples",
           "train_lora", "trigger_phrase"]

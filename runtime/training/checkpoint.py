"""Training checkpoints: one ``.safetensors`` file, written atomically.

It holds everything the next step depends on, so a resumed training computes exactly what an
uninterrupted one would: the LoRA parameters (``lora.<name>``), the optimizer's state tensors
(``optimizer.<index>.<name>``), the noise generator's state (``rng.noise``) and, in the header's
metadata, the step, the optimizer's hyperparameters and the *fingerprint* (base model, dataset
bytes and captions, settings): a checkpoint of another training is ignored, never resumed.
No pickles: tensors in safetensors, the rest as JSON.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

FORMAT = "moviola-lora-checkpoint-1"


@dataclass
class Checkpoint:
    step: int
    fingerprint: str
    lora: dict            # parameter name → tensor
    optimizer: dict       # torch optimizer state_dict
    noise_rng: object     # torch.ByteTensor (torch.Generator state)


def write_atomically(target: Path, write) -> None:
    """``write(temporary_path)``, flushed to disk, then renamed over ``target`` in one step: a
    kill or a full disk leaves the previous file, never half of the new one."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def save(path: Path, checkpoint: Checkpoint) -> None:
    from safetensors.torch import save_file

    tensors = {f"lora.{name}": tensor.detach().cpu().contiguous()
               for name, tensor in checkpoint.lora.items()}
    state_layout = {}
    for index, values in checkpoint.optimizer["state"].items():
        plain = {}
        for key, value in values.items():
            if hasattr(value, "detach"):
                tensors[f"optimizer.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                plain[key] = value
        state_layout[str(index)] = plain
    tensors["rng.noise"] = checkpoint.noise_rng.clone()
    metadata = {"format": FORMAT, "step": str(checkpoint.step),
                "fingerprint": checkpoint.fingerprint,
                "param_groups": json.dumps(checkpoint.optimizer["param_groups"]),
                "state": json.dumps(state_layout)}
    write_atomically(path, lambda temporary: save_file(tensors, str(temporary), metadata=metadata))


def load(path: Path, fingerprint: str) -> Checkpoint | None:
    """The checkpoint at ``path`` if it belongs to this training (same fingerprint), else None
    (absent, another training's, or unreadable: start over rather than resume wrongly)."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as stream:
            metadata = stream.metadata() or {}
            if metadata.get("format") != FORMAT or metadata.get("fingerprint") != fingerprint:
                return None
            tensors = {key: stream.get_tensor(key) for key in stream.keys()}
    except (OSError, SafetensorError, ValueError):
        return None
    state: dict = {}
    for index, plain in json.loads(metadata["state"]).items():
        state[int(index)] = dict(plain)
    for key, tensor in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = tensor
    return Checkpoint(
        step=int(metadata["step"]), fingerprint=fingerprint,
        lora={key[len("lora."):]: tensor for key, tensor in tensors.items() if key.startswith("lora.")},
        optimizer={"state": state, "param_groups": json.loads(metadata["param_groups"])},
        noise_rng=tensors["rng.noise"])

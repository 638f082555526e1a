"""``training.lora``: a plan's train job (a ``train:`` asset) → the asset's LoRA, by
:func:`moviola.runtime.training.train_lora` on the profile's keyframe model.

The dataset is the job's declared files (every picture and caption sidecar, covered by its
key); checkpoints go to ``.moviola/train/<job key>/`` in the project, so a build killed
mid-training resumes it on the next build, and a changed dataset or setting never resumes
another training's checkpoint. The keyframe backend applies the artifact (diffusers_image).
"""

from __future__ import annotations

from pathlib import Path

from moviola.runtime import models as store
from moviola.runtime.backends.protocol import BaseBackend, Task


class LoraTraining(BaseBackend):
    name = "training.lora"

    def validate(self) -> None:
        """Find the keyframe model now (ModelNotFound before any work); its identity is the
        revision every train key carries."""
        if not self.config.model:
            raise store.ModelNotFound(str(self.config.model), [], reason=(
                "training needs the keyframe model: set `model` for keyframe in moviola.toml"))
        self.revision = store.identity(Path(store.locate(self.config.model, self.project)))

    def check_jobs(self, jobs) -> list[str]:
        """Each asset's pictures, read before any GPU time (runtime/dataset.py): a dataset too
        small or broken stops the build, with what `moviola dataset` says of it."""
        from moviola.compiler import ir
        from moviola.runtime.dataset import RESOLUTION, check_refs

        problems = []
        for job in jobs:
            params = job.params
            refs = [ir.ProjectPath(path, path, job.span) for path in params.dataset]
            report = check_refs(params.asset_kind, params.asset, refs, job.span, self.project,
                                resolution=params.resolution or RESOLUTION)
            problems += [f"{job.label} (line {job.span.line}): {d.message}; run `moviola dataset`"
                         for d in report.errors]
        return problems

    def run(self, task: Task) -> dict:
        from moviola.runtime.training import TrainSettings, TrainStep, train_lora

        def show(event) -> None:
            if isinstance(event, TrainStep):          # the build's display shows the steps
                task.progress(event.step, event.steps, f"loss {event.loss:.4f}")

        params = task.job.params
        device = self.models.device if self.models is not None else "auto"
        settings = TrainSettings(
            rank=params.rank, steps=params.steps, learning_rate=params.learning_rate,
            resolution=params.resolution, seed=params.seed,
            device=device, dtype=self.config.dtype)
        result = train_lora(self.config.model, self.project, list(params.dataset),
                            task.output("lora"), trigger=params.trigger,
                            description=params.description, settings=settings,
                            checkpoint_dir=self.project / ".moviola" / "train" / task.key[:16],
                            on_event=show)
        return {"trigger": result.trigger, "pictures": len(result.examples),
                "resumed_from": result.resumed_from, "loss_before": result.loss_before,
                "loss_after": result.loss_after}

"""What differs between model families when training a LoRA on the denoiser.

A family knows, for its pipeline: which module denoises (``unet`` / ``transformer``) and which
of its layers are attention projections, how text becomes conditioning (the pipeline's own
public ``encode_prompt``), how the training target is made (noise prediction: epsilon,
v-prediction or sample, per the scheduler's config; or flow matching), and under which keyword
the pipeline's ``save_lora_weights`` takes the layers.

- :class:`StableDiffusion`: SD 1.x / 2.x (``UNet2DConditionModel``, one CLIP text encoder);
- :class:`StableDiffusionXL`: SDXL and SDXL-Turbo (two text encoders, pooled embeddings and
  size/crop ``time_ids``);
- :class:`Flux`: FLUX.1 (``FluxTransformer2DModel``, CLIP + T5, packed 2×2 latents, flow
  matching with the scheduler's shift; the guidance input for guidance-distilled variants);
- :class:`Flux2Klein`: FLUX.2 klein, ``preview``'s keyframes (``Flux2Transformer2DModel``, a
  Qwen3 text encoder, latents patchified 2×2 and normalized by the VAE's batch-norm
  statistics, four-axis position ids);
- :class:`ZImage`: Z-Image, ``final``'s keyframes (``ZImageTransformer2DModel``, a Qwen3
  text encoder whose captions keep their own lengths, a transformer that reads a list of
  latents and time as 1 − σ and predicts x − noise).
"""

from __future__ import annotations

ATTENTION = ["to_q", "to_k", "to_v", "to_out.0"]


class UnsupportedModel(Exception):
    """The pipeline is not of a family the trainer knows."""


def family_for(pipe):
    """The family object for a loaded diffusers pipeline."""
    names = [cls.__name__ for cls in type(pipe).__mro__]
    if any(name.startswith("StableDiffusionXL") for name in names):
        return StableDiffusionXL(pipe)
    if any(name.startswith("Flux2Klein") for name in names):
        return Flux2Klein(pipe)
    if any(name.startswith("Flux") and not name.startswith("Flux2") for name in names):
        return Flux(pipe)
    if any(name.startswith("ZImage") for name in names):
        return ZImage(pipe)
    if any(name.startswith("StableDiffusion") for name in names) and hasattr(pipe, "unet"):
        return StableDiffusion(pipe)
    raise UnsupportedModel(f"{type(pipe).__name__}: LoRA training covers Stable Diffusion 1.x/2.x, "
                           f"SDXL, FLUX.1, FLUX.2 klein and Z-Image pipelines")


class _Family:
    denoiser_attribute = "unet"
    lora_keyword = "unet_lora_layers"
    target_modules = ATTENTION
    # UNet LoRAs are saved under diffusers' own layer names (its SD training scripts do);
    # transformer LoRAs keep peft's, which is what their loaders read back
    old_lora_names = True

    def __init__(self, pipe):
        self.pipeline_class = type(pipe)
        self.denoiser = getattr(pipe, self.denoiser_attribute)
        self.vae = pipe.vae
        self.vae_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)

    # -- sizes ----------------------------------------------------------------------------------

    @property
    def size_multiple(self) -> int:
        """What image sides must be a multiple of (the VAE's factor × the denoiser's)."""
        return self.vae_factor * 2 ** (len(self.denoiser.config.down_block_types) - 1)

    @property
    def native_resolution(self) -> int:
        side = self.denoiser.config.sample_size
        side = side[0] if isinstance(side, (list, tuple)) else side
        return int(side) * self.vae_factor

    # -- preparing ------------------------------------------------------------------------------

    def encode_image(self, pixels):
        """Pixels in [-1, 1], (1, 3, H, W) on the VAE's device → scaled latents."""
        config = self.vae.config
        latents = self.vae.encode(pixels.to(self.vae.dtype)).latent_dist.mode()
        shift = getattr(config, "shift_factor", None) or 0.0
        return (latents - shift) * config.scaling_factor

    def encode_text(self, pipe, caption: str, device, image_size, crop, bucket) -> dict:
        raise NotImplementedError

    # -- training -------------------------------------------------------------------------------

    def loss(self, latents, conditioning: dict, generator):
        raise NotImplementedError

    def save(self, folder, layers: dict, weight_name: str) -> None:
        self.pipeline_class.save_lora_weights(folder, **{self.lora_keyword: layers},
                                              weight_name=weight_name, safe_serialization=True)


class StableDiffusion(_Family):
    """Noise prediction on a UNet; the target follows the scheduler's ``prediction_type``."""

    def __init__(self, pipe):
        super().__init__(pipe)
        from diffusers import DDPMScheduler

        # the training noise schedule of the model's own scheduler config (diffusers' scripts
        # do the same: a DDPM scheduler from it)
        self.scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        self.prediction_type = self.scheduler.config.prediction_type
        if self.prediction_type not in ("epsilon", "v_prediction", "sample"):
            raise UnsupportedModel(f"prediction type {self.prediction_type!r}")

    def encode_text(self, pipe, caption, device, image_size, crop, bucket) -> dict:
        embeds, _ = pipe.encode_prompt(caption, device, 1, False)
        return {"encoder_hidden_states": embeds}

    def forward(self, noisy, timesteps, conditioning):
        return self.denoiser(noisy, timesteps, encoder_hidden_states=conditioning["encoder_hidden_states"],
                             return_dict=False)[0]

    def loss(self, latents, conditioning, generator):
        import torch

        device = latents.device
        noise = torch.randn(latents.shape, generator=generator).to(device, latents.dtype)
        timesteps = torch.randint(0, self.scheduler.config.num_train_timesteps, (latents.shape[0],),
                                  generator=generator).to(device)
        noisy = self.scheduler.add_noise(latents, noise, timesteps)
        if self.prediction_type == "epsilon":
            target = noise
        elif self.prediction_type == "v_prediction":
            target = self.scheduler.get_velocity(latents, noise, timesteps)
        else:
            target = latents
        prediction = self.forward(noisy, timesteps, conditioning)
        return torch.nn.functional.mse_loss(prediction.float(), target.float())


class StableDiffusionXL(StableDiffusion):
    """SDXL: two text encoders (their penultimate states, the second's pooled output) and
    the micro-conditioning on the original size, the crop and the target size."""

    def encode_text(self, pipe, caption, device, image_size, crop, bucket) -> dict:
        import torch

        embeds, _, pooled, _ = pipe.encode_prompt(prompt=caption, device=device,
                                                  num_images_per_prompt=1,
                                                  do_classifier_free_guidance=False)
        width, height = image_size
        time_ids = torch.tensor([[height, width, crop[1], crop[0], bucket[1], bucket[0]]],
                                dtype=embeds.dtype, device=device)
        return {"encoder_hidden_states": embeds, "text_embeds": pooled, "time_ids": time_ids}

    def forward(self, noisy, timesteps, conditioning):
        return self.denoiser(noisy, timesteps, encoder_hidden_states=conditioning["encoder_hidden_states"],
                             added_cond_kwargs={"text_embeds": conditioning["text_embeds"],
                                                "time_ids": conditioning["time_ids"]},
                             return_dict=False)[0]


class _RectifiedFlow(_Family):
    """Rectified flow: x_σ = (1 − σ)·x + σ·noise, the velocity noise − x; σ drawn uniformly
    and shifted as the scheduler's config says (``shift``). Transformers on 2×2 patches."""

    denoiser_attribute = "transformer"
    lora_keyword = "transformer_lora_layers"
    old_lora_names = False

    def __init__(self, pipe):
        super().__init__(pipe)
        self.shift = float(getattr(pipe.scheduler.config, "shift", 1.0) or 1.0)

    @property
    def size_multiple(self) -> int:
        return self.vae_factor * 2               # latents go in 2×2 patches

    @property
    def native_resolution(self) -> int:
        return 1024

    def draw(self, latents, generator):
        """(x_σ, the velocity noise − x, σ) for a batch of latents."""
        import torch

        device = latents.device
        noise = torch.randn(latents.shape, generator=generator).to(device, latents.dtype)
        u = torch.rand((latents.shape[0],), generator=generator).to(device)
        sigma = self.shift * u / (1 + (self.shift - 1) * u)
        s = sigma.view(-1, *([1] * (latents.dim() - 1))).to(latents.dtype)
        return (1 - s) * latents + s * noise, noise - latents, sigma.to(latents.dtype)


class Flux(_RectifiedFlow):
    """FLUX.1: the transformer predicts the velocity on FLUX's packed 2×2 patch sequence."""

    target_modules = ATTENTION + ["add_q_proj", "add_k_proj", "add_v_proj", "to_add_out"]

    def __init__(self, pipe):
        super().__init__(pipe)
        self.guidance = 1.0

    def encode_text(self, pipe, caption, device, image_size, crop, bucket) -> dict:
        # the T5 length the variant was distilled with: 512 tokens for dev (guidance-distilled),
        # 256 for schnell
        length = 512 if getattr(self.denoiser.config, "guidance_embeds", False) else 256
        embeds, pooled, text_ids = pipe.encode_prompt(prompt=caption, prompt_2=None, device=device,
                                                      num_images_per_prompt=1,
                                                      max_sequence_length=length)
        return {"encoder_hidden_states": embeds, "pooled_projections": pooled, "txt_ids": text_ids[None]}

    def loss(self, latents, conditioning, generator):
        import torch

        device = latents.device
        batch, channels, height, width = latents.shape
        noisy, target, sigma = self.draw(latents, generator)
        image_ids = torch.zeros(height // 2, width // 2, 3)
        image_ids[..., 1] = torch.arange(height // 2)[:, None]
        image_ids[..., 2] = torch.arange(width // 2)[None, :]
        guidance = None
        if getattr(self.denoiser.config, "guidance_embeds", False):
            guidance = torch.full((batch,), self.guidance, device=device)
        prediction = self.denoiser(
            hidden_states=_pack(noisy), timestep=sigma, guidance=guidance,
            pooled_projections=conditioning["pooled_projections"],
            encoder_hidden_states=conditioning["encoder_hidden_states"],
            txt_ids=conditioning["txt_ids"][0], img_ids=image_ids.reshape(-1, 3).to(device),
            return_dict=False)[0]
        return torch.nn.functional.mse_loss(prediction.float(), _pack(target).float())


class Flux2Klein(_RectifiedFlow):
    """FLUX.2 klein: latents patchified 2×2 (4× the channels) and normalized by the VAE's
    batch-norm statistics, as the pipeline encodes a reference picture; the transformer reads
    them as a sequence with (t, h, w, layer) position ids and predicts the velocity."""

    target_modules = ATTENTION + ["add_q_proj", "add_k_proj", "add_v_proj", "to_add_out",
                                  "to_qkv_mlp_proj"]   # the single-stream blocks' attention

    def encode_image(self, pixels):
        import torch

        latents = self.vae.encode(pixels.to(self.vae.dtype)).latent_dist.mode()
        batch, channels, height, width = latents.shape
        patches = latents.view(batch, channels, height // 2, 2, width // 2, 2)
        latents = patches.permute(0, 1, 3, 5, 2, 4).reshape(batch, channels * 4, height // 2,
                                                           width // 2)
        norm = self.vae.bn
        mean = norm.running_mean.view(1, -1, 1, 1).to(latents)
        std = torch.sqrt(norm.running_var.view(1, -1, 1, 1) + self.vae.config.batch_norm_eps)
        return (latents - mean) / std.to(latents)

    def encode_text(self, pipe, caption, device, image_size, crop, bucket) -> dict:
        embeds, text_ids = pipe.encode_prompt(prompt=caption, device=device,
                                              num_images_per_prompt=1)
        return {"encoder_hidden_states": embeds, "txt_ids": text_ids}

    def loss(self, latents, conditioning, generator):
        import torch

        batch, channels, height, width = latents.shape
        noisy, target, sigma = self.draw(latents, generator)
        grid = torch.cartesian_prod(torch.arange(1), torch.arange(height), torch.arange(width),
                                    torch.arange(1))        # (t, h, w, layer), row by row
        prediction = self.denoiser(
            hidden_states=_sequence(noisy), timestep=sigma, guidance=None,
            encoder_hidden_states=conditioning["encoder_hidden_states"],
            txt_ids=conditioning["txt_ids"].long(),
            img_ids=grid[None].expand(batch, -1, -1).to(latents.device), return_dict=False)[0]
        return torch.nn.functional.mse_loss(prediction.float(), _sequence(target).float())


class ZImage(_RectifiedFlow):
    """Z-Image: the transformer reads a list of (C, 1, H, W) latents, time as 1 − σ, and each
    caption at its own length, and predicts x − noise (the pipeline negates it)."""

    target_modules = ATTENTION

    def encode_text(self, pipe, caption, device, image_size, crop, bucket) -> dict:
        import torch

        [embeds], _ = pipe.encode_prompt(caption, device=device, do_classifier_free_guidance=False)
        # the caption's own tokens only: a batch pads them, and the loss cuts the padding off
        return {"cap_feats": embeds[None], "cap_length": torch.tensor([embeds.shape[0]])}

    def loss(self, latents, conditioning, generator):
        import torch

        noisy, velocity, sigma = self.draw(latents, generator)
        captions = [feats[:int(length)] for feats, length in
                    zip(conditioning["cap_feats"], conditioning["cap_length"])]
        out = self.denoiser([x.unsqueeze(1) for x in noisy], 1 - sigma, captions,
                            return_dict=False)[0]
        prediction = torch.stack([x.float() for x in out]).squeeze(2)
        return torch.nn.functional.mse_loss(prediction, -velocity.float())


def _sequence(latents):
    """(B, C, H, W) → (B, H·W, C): FLUX.2's token sequence of already patchified latents."""
    batch, channels, height, width = latents.shape
    return latents.reshape(batch, channels, height * width).permute(0, 2, 1)


def _pack(latents):
    """(B, C, H, W) → (B, H/2·W/2, 4C): FLUX's 2×2 patch sequence."""
    batch, channels, height, width = latents.shape
    patches = latents.view(batch, channels, height // 2, 2, width // 2, 2)
    return patches.permute(0, 2, 4, 1, 3, 5).reshape(batch, (height // 2) * (width // 2), channels * 4)

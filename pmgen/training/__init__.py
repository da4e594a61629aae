"""Training: the shared step loop (``loop``), soft-prompt projectors for headlines
(``soft_prompt``) and covers (``cover``) with one entry point (``projector``), the
headline LoRA (``headline``), Stable Diffusion's denoising loss (``diffusion``) and the
cover LoRA (``lora``). Generation code imports nothing from here."""

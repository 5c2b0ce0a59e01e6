"""Training: progressive pretraining, fine-tuning, prediction (same code on CPU, GPU, DDP)."""

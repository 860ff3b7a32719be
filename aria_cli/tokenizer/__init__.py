"""The frame tokenizer: a VQ-VAE from a 64x64 frame of 16 colours to an 8x8 grid of codes.

- `model`: the VQ-VAE, its checkpoint, encode/decode;
- `train`: `aria train-vqvae`.
"""

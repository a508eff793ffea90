"""Write a Llama-shaped checkpoint with random weights and an offline tokenizer (run in a subprocess).

Run by `mlsyslab.measure.write_local_model` with the engine environment's interpreter (PyTorch,
transformers and tokenizers come with vLLM); imports nothing from mlsyslab. Arguments: the folder
that already holds ``config.json``, the random seed, and the folder of text to train the tokenizer
on. The weights are drawn by transformers' own initialiser (normal, std ``initializer_range``) and
saved as safetensors in the config's dtype; the tokenizer is a byte-level BPE trained on the
given text to the config's vocabulary size (every byte is a token, so any text round-trips).
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(folder: str, seed: int, corpus: str) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast

    out = Path(folder)
    config = AutoConfig.from_pretrained(out)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config).to(getattr(torch, str(config.torch_dtype).removeprefix("torch.")))
    model.save_pretrained(out)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=config.vocab_size - 2, special_tokens=["<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    files = sorted(str(p) for p in Path(corpus).rglob("*") if p.suffix in (".py", ".md", ".toml", ".qmd"))
    tok.train(files, trainer)
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>").save_pretrained(out)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])

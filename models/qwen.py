"""Qwen2.5-VL (and fine-tunes such as TimeChat-Online) through transformers, as a `VideoLLM`.

Encoding runs the vision tower and merger on each 2-frame step on its own (a stream has no future frames).
Answering writes the stored tokens into video slots of `inputs_embeds` and gives them the M-RoPE positions
they would have in the clip's full, undropped layout (TimeChat-Online keeps original positions this way).
"""
import re
import threading
from typing import Iterator

import numpy as np
import torch

from models.backend import PromptClip
from models.config import ModelConfig
from models.preprocess import CLIP_MEAN, CLIP_STD, patchify, resize_frames, smart_resize

SYSTEM_PROMPT = ("You are Vigil, an assistant that watches a video stream. You are shown clips from your memory "
                 "of the stream, each after its time span. Answer the question about what you saw.")
_VIDEO = "<|vision_start|><|video_pad|><|vision_end|>"
_SPECIAL = re.compile(r"<\|[a-z_]+\|>")


class QwenVideoLLM:
    # Pixel statistics the vision tower was trained with (Qwen2.5-VL: CLIP's).
    mean, std = CLIP_MEAN, CLIP_STD

    @staticmethod
    def model_class():
        from transformers import Qwen2_5_VLForConditionalGeneration
        return Qwen2_5_VLForConditionalGeneration

    def __init__(self, path: str, config: ModelConfig, device: torch.device, dtype: torch.dtype,
                 random_weights: bool = False):
        from transformers import AutoTokenizer

        self.model = self.model_class().from_pretrained(path, dtype=dtype).to(device).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.config = config
        self.device, self.dtype = device, dtype
        self.name = str(path)
        self.random_weights = random_weights
        vc = self.model.config.vision_config
        self.patch, self.merge, self.frames_per_step = vc.patch_size, vc.spatial_merge_size, vc.temporal_patch_size
        self.cell = self.patch * self.merge
        self.token_dim = vc.out_hidden_size
        self.video_token_id = self.model.config.video_token_id
        # No lock here: one model serves many streams and sessions, and who uses it when (encoding first, answers
        # yielding between steps) is the engine's call, through stream.scheduler.ModelGate.

    # ---- encoding -------------------------------------------------------------------------------------
    def frame_size(self, height: int, width: int) -> tuple[int, int]:
        return smart_resize(height, width, self.cell, self.config.min_pixels, self.config.max_pixels)

    def encode(self, steps: np.ndarray) -> torch.Tensor:
        """[B, 2, H, W, 3] uint8 (already resized) -> [B, (H/28)*(W/28), D] float32 on the CPU. The caller holds the
        model (the Ingestor encodes inside the engine's gate)."""
        b = steps.shape[0]
        pixel_values, thw = patchify(steps.reshape(-1, *steps.shape[2:]), self.patch, self.merge, self.frames_per_step,
                                     mean=self.mean, std=self.std)
        # Each step is its own "video" ([1, gh, gw]) so full-attention blocks never look across steps.
        grid_thw = torch.tensor([[1, thw[1], thw[2]]] * b, device=self.device)
        pixels = torch.from_numpy(pixel_values).to(self.device, self.dtype)
        with torch.inference_mode():
            out = self.model.model.get_video_features(pixels, grid_thw, return_dict=True)
        return self.stored(out).float().cpu()

    def stored(self, out) -> torch.Tensor:
        """The vision tower's output for B steps -> what is stored per token: [B, N, token_dim]."""
        return torch.stack(out.pooler_output)

    def preprocess(self, frames: np.ndarray) -> np.ndarray:
        """Raw uint8 frames [T, H, W, 3] -> frames resized to this model's grid."""
        return resize_frames(frames, self.frame_size(frames.shape[1], frames.shape[2]))

    # ---- prompting ------------------------------------------------------------------------------------
    def _text_ids(self, question: str, n_clips_labels: list[str], context: str) -> list[int]:
        question = _SPECIAL.sub("", question).strip()
        user = "".join(f"{label} {_VIDEO}\n" for label in n_clips_labels)
        user += (f"{context}\n" if context else "") + f"Question: {question}"
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def build_inputs(self, question: str, clips: list[PromptClip], context: str = "") -> dict:
        """Prompt tensors: inputs_embeds [1, L, D_llm], position_ids [3, 1, L], attention_mask [1, L], input_ids."""
        ids = self._text_ids(question, [c.label for c in clips], context)
        slots = [i for i, t in enumerate(ids) if t == self.video_token_id]
        assert len(slots) == len(clips), "the chat template must keep one video slot per clip"

        # Full layout: every clip with all T*H*W tokens, as if nothing had been dropped.
        full, keep, kept_tokens, prev = [], [], [], 0
        for slot, clip in zip(slots, clips):
            full += ids[prev:slot]
            keep += [True] * (slot - prev)
            t, h, w = clip.grid
            flat = clip.positions[:, 0] * h * w + clip.positions[:, 1] * w + clip.positions[:, 2]
            order = torch.argsort(flat)
            flat = flat[order]
            mask = torch.zeros(t * h * w, dtype=torch.bool)
            mask[flat] = True
            full += [self.video_token_id] * (t * h * w)
            keep += mask.tolist()
            kept_tokens.append(clip.tokens[order])
            prev = slot + 1
        full += ids[prev:]
        keep += [True] * (len(ids) - prev)

        rope = {}
        if clips:
            rope = dict(video_grid_thw=torch.tensor([[c.grid[0], c.grid[1] * self.merge, c.grid[2] * self.merge]
                                                     for c in clips], device=self.device),
                        second_per_grid_ts=torch.tensor([c.seconds_per_step for c in clips], device=self.device))
        input_ids, position_ids = self.kept_layout(full, keep, **rope)
        embeds = self.model.get_input_embeddings()(input_ids)
        if clips:
            visual = torch.cat(kept_tokens).to(self.device, embeds.dtype)
            video_mask = (input_ids == self.video_token_id)[..., None].expand_as(embeds)
            embeds = embeds.masked_scatter(video_mask, visual)
        return {"input_ids": input_ids, "inputs_embeds": embeds, "position_ids": position_ids,
                "attention_mask": torch.ones_like(input_ids)}

    def kept_layout(self, full: list[int], keep: list[bool], **rope) -> tuple[torch.Tensor, torch.Tensor]:
        """The full, undropped layout's ids and keep mask -> (ids of what is kept [1, L], their positions in the full
        layout [3, 1, L]). `rope`: the video grids (and times) the model's `get_rope_index` takes; none: text only."""
        full_ids = torch.tensor([full], device=self.device)
        keep = torch.tensor(keep, device=self.device)
        if rope:
            types = (full_ids == self.video_token_id).int() * 2        # 0 text, 2 video
            self.model.model.rope_deltas = None
            positions, _ = self.model.model.get_rope_index(full_ids, mm_token_type_ids=types, **rope)
        else:
            positions = torch.arange(full_ids.shape[1], device=self.device).view(1, 1, -1).expand(3, 1, -1)
        return full_ids[:, keep], positions[:, :, keep]

    prompt_as_ids = False

    def generate_inputs(self, inputs: dict) -> dict:
        """What `generate` is given of `build_inputs`' tensors: the prompt as embeddings with explicit positions."""
        return {k: inputs[k] for k in ("inputs_embeds", "position_ids", "attention_mask")}

    def prompt_size(self, question: str, clips: list[PromptClip], context: str = "") -> int:
        text = len(self._text_ids(question, [c.label for c in clips], context)) - len(clips)
        return text + sum(int(c.tokens.shape[0]) for c in clips)

    def answer(self, question: str, clips: list[PromptClip], context: str = "",
               max_new_tokens: int | None = None, turn=None) -> Iterator[str]:
        """Stream the answer. `turn` (a `stream.scheduler.GenerationTurn`): the generate thread enters it before the
        prompt is built (build_inputs sets the model's rope_deltas), lets waiting encoders run after every decoding
        step, and leaves as soon as generation ends, however slowly the pieces are read. None: the caller has the
        model to itself (tests, single-threaded benches)."""
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        stop = threading.Event()

        class _Step(StoppingCriteria):
            # Called in the generate thread after each decoding step: where the model can change hands, and where a
            # reader that stopped reading stops the generation.
            def __call__(self, input_ids, scores, **kwargs):
                if stop.is_set():
                    return True
                if turn is not None:
                    turn.between_steps()
                return stop.is_set()

        # A prompt given as embeddings is not in generate's output; one given as ids is, and must not be read back.
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=self.prompt_as_ids, skip_special_tokens=True)
        errors: list[BaseException] = []

        def run():
            entered = False
            try:
                if turn is not None:
                    turn.enter()
                entered = True
                if stop.is_set():       # the reader gave up while this waited for the model
                    return
                with torch.inference_mode():
                    inputs = self.generate_inputs(self.build_inputs(question, clips, context))
                    self.model.generate(**inputs, do_sample=False,
                                        max_new_tokens=max_new_tokens or self.config.max_new_tokens,
                                        streamer=streamer, stopping_criteria=StoppingCriteriaList([_Step()]))
            except BaseException as e:  # surfaced in the caller's thread below
                errors.append(e)
                streamer.end()
            finally:
                if entered:             # still holding the model: the next answer starts clean
                    self.model.model.rope_deltas = None
                if turn is not None:
                    turn.leave()        # the model is free once generation ends, not once the pieces are read

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        try:
            for piece in streamer:
                if piece:
                    yield piece
        finally:
            stop.set()                  # a consumer that stops reading stops the generation too
            worker.join()
        if errors:
            raise errors[0]

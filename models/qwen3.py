"""Qwen3-VL (dense and MoE) and Qwen3.5 through transformers, as a `VideoLLM`.

What differs from Qwen2.5-VL (models/qwen.py):
- 16-pixel patches merged 2x2: one token per 32x32 pixels per 2 frames; pixels normalised with mean = std = 0.5.
- Time is text, not a position: each temporal step of a video is `<t seconds><|vision_start|>...<|vision_end|>`,
  and every token of a step shares one temporal position (interleaved M-RoPE in the text model).
- DeepStack (Qwen3-VL only): the vision tower also gives features from some of its blocks, which are added to the
  hidden states of the first decoder layers at the visual positions. A token is stored as its merged feature and its
  DeepStack features side by side, [D * (1 + levels)], so one keep mask of the drop applies to all of them and the
  answer has what it needs (they cannot be recomputed without the pixels). Qwen3.5's tower has no DeepStack: its
  stored token is the merged feature alone.

Answering gives the model the prompt ids with only the kept video tokens, the kept features as precomputed encoder
outputs (so `visual_pos_masks` marks only kept tokens), and the positions those tokens have in the full, undropped
layout; each step's timestamp text stays even when most of its tokens were dropped.
"""
import torch

from models.backend import PromptClip
from models.qwen import SYSTEM_PROMPT, QwenVideoLLM, _SPECIAL

_STEP = "<|vision_start|><|video_pad|><|vision_end|>"


class Qwen3VideoLLM(QwenVideoLLM):
    mean = std = (0.5, 0.5, 0.5)
    prompt_as_ids = True

    @staticmethod
    def model_class():
        from transformers import AutoModelForImageTextToText
        return AutoModelForImageTextToText     # Qwen3VL, Qwen3VLMoe or Qwen3_5 ForConditionalGeneration

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        visual = self.model.model.visual
        self.levels = len(getattr(visual, "deepstack_merger_list", ()))
        self.width = self.model.config.vision_config.out_hidden_size      # D, the LLM's input width
        self.token_dim = self.width * (1 + self.levels)

    def stored(self, out) -> torch.Tensor:
        """[B, N, D] merged features and `levels` DeepStack features [B, N, D] each -> [B, N, D * (1 + levels)]."""
        merged = torch.stack(out.pooler_output)
        deep = [torch.stack(level) for level in (getattr(out, "deepstack_features", None) or [])]
        return torch.cat([merged] + deep, dim=-1)

    # ---- prompting ------------------------------------------------------------------------------------
    @staticmethod
    def stamps(clip: PromptClip) -> list[float]:
        """Each temporal step's time in seconds: the mean of its frames' times, as Qwen3-VL's processor writes it."""
        frames = clip.seconds_per_step / 2            # two frames a step, evenly spaced
        return [clip.start + t * clip.seconds_per_step + frames / 2 for t in range(clip.grid[0])]

    def _text_ids(self, question: str, clips: list[PromptClip], context: str) -> list[int]:
        question = _SPECIAL.sub("", question).strip()
        user = "".join(f"{c.label} " + "".join(f"<{s:.1f} seconds>{_STEP}" for s in self.stamps(c)) + "\n"
                       for c in clips)
        user += (f"{context}\n" if context else "") + f"Question: {question}"
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
        # Qwen3.5's template thinks first by default: an answer of a few tokens would be all thinking.
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                                  enable_thinking=False)
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def build_inputs(self, question: str, clips: list[PromptClip], context: str = "") -> dict:
        """input_ids [1, L] (kept video tokens only), position_ids [3, 1, L] (the full layout's), attention_mask,
        and `video`: the kept tokens' merged features [n, D] and DeepStack features (levels x [n, D])."""
        ids = self._text_ids(question, clips, context)
        slots = [i for i, t in enumerate(ids) if t == self.video_token_id]
        per_step = [(k, c, t) for k, c in enumerate(clips) for t in range(c.grid[0])]
        assert len(slots) == len(per_step), "the chat template must keep one video slot per temporal step"

        full, keep, grids, prev = [], [], [], 0
        kept = [[] for _ in clips]
        for slot, (k, c, t) in zip(slots, per_step):
            full += ids[prev:slot]
            keep += [True] * (slot - prev)
            _, h, w = c.grid
            mine = (c.positions[:, 0] == t).nonzero().squeeze(1)
            flat = c.positions[mine, 1] * w + c.positions[mine, 2]
            order = torch.argsort(flat)
            mask = torch.zeros(h * w, dtype=torch.bool)
            mask[flat] = True
            full += [self.video_token_id] * (h * w)
            keep += mask.tolist()
            kept[k].append(c.tokens[mine[order]])
            grids.append([1, h * self.merge, w * self.merge])
            prev = slot + 1
        full += ids[prev:]
        keep += [True] * (len(ids) - prev)

        rope = dict(video_grid_thw=torch.tensor(grids, device=self.device)) if clips else {}
        input_ids, position_ids = self.kept_layout(full, keep, **rope)
        dtype = self.model.get_input_embeddings().weight.dtype
        tokens = torch.cat([torch.cat(k) for k in kept if k] or [torch.zeros(0, self.token_dim)])
        tokens = tokens.to(self.device, dtype)
        levels = tokens.split(self.width, dim=-1)                     # merged, then each DeepStack level
        return {"input_ids": input_ids, "position_ids": position_ids,
                "attention_mask": torch.ones_like(input_ids), "video": levels}

    def generate_inputs(self, inputs: dict) -> dict:
        """The prompt as ids, with the kept features as the video encoder's output (what `generate` would have
        computed from pixels), so the model scatters them into the video slots and adds DeepStack at them."""
        out = {k: inputs[k] for k in ("input_ids", "position_ids", "attention_mask")}
        merged, *deep = inputs["video"]
        if merged.shape[0]:
            from transformers.models.qwen3_vl.modeling_qwen3_vl import BaseModelOutputWithDeepstackFeatures
            out["mm_encoder_outputs"] = {"video": BaseModelOutputWithDeepstackFeatures(
                pooler_output=(merged,), deepstack_features=[(d,) for d in deep] if self.levels else None)}
        return out

    def prompt_size(self, question: str, clips: list[PromptClip], context: str = "") -> int:
        steps = sum(c.grid[0] for c in clips)
        return len(self._text_ids(question, clips, context)) - steps + sum(int(c.tokens.shape[0]) for c in clips)

"""A greedy decode written by hand, what `generate` with explicit positions must equal (Qwen2.5-VL and Qwen3-VL)."""
import torch


def decode_by_hand(model, out, last: int, length: int, n: int) -> list[int]:
    """n greedy token ids after a prompt of `length` tokens whose forward (use_cache=True) gave `out`, each new token
    at the text position after the one before (`last`: the prompt's last position); eos is not allowed before n
    tokens, as `min_new_tokens=n` does."""
    ids = []
    for i in range(n):
        logits = out.logits[:, -1].clone()
        logits[:, model.generation_config.eos_token_id] = -float("inf")
        nxt = logits.argmax(-1, keepdim=True)
        ids.append(int(nxt))
        out = model(input_ids=nxt, position_ids=torch.full((3, 1, 1), last + 1 + i),
                    past_key_values=out.past_key_values, attention_mask=torch.ones(1, length + i + 1), use_cache=True)
    return ids

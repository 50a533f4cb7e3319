"""The real OpenAI-compatible server (`transformers serve` with the tiny random LLaVA), through the `openai` client."""
import base64
from pathlib import Path

import cv2
import numpy as np
import openai
import pytest

from models.served import build_tiny_served_vlm
from models.tiny import is_random

# 16 patch tokens per image, plus <|vision_start|> and <|vision_end|> around them.
TOKENS_PER_IMAGE = 18


def jpeg_url(image: np.ndarray) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(cv2.imencode(".jpg", image)[1].tobytes()).decode()


def noise(seed: int, shape=(48, 64, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture(scope="module")
def client(answer_server):
    return openai.OpenAI(base_url=answer_server.base_url, api_key="unused", timeout=30)


def stream(client, server, images, text="What happens in these frames?"):
    """One streamed answer: (text, finish_reason, usage, number of content chunks). Greedy, 8 tokens at most."""
    content = [{"type": "image_url", "image_url": {"url": jpeg_url(image)}} for image in images]
    content.append({"type": "text", "text": text})
    chunks = client.chat.completions.create(model=server.model, messages=[{"role": "user", "content": content}],
                                            max_tokens=8, temperature=0, stream=True)
    answer, finish, usage, pieces = "", None, None, 0
    for chunk in chunks:
        for choice in chunk.choices:
            if choice.delta.content:
                answer, pieces = answer + choice.delta.content, pieces + 1
            finish = choice.finish_reason or finish
        usage = chunk.usage or usage
    return answer, finish, usage, pieces


def test_folder_is_marked_random_and_reused(answer_server):
    folder = Path(answer_server.model)
    assert is_random(folder)
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_served_vlm(folder) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp


def test_streams_an_answer_about_two_images(client, answer_server):
    answer, finish, usage, pieces = stream(client, answer_server, [noise(0), noise(1)])
    assert answer and pieces > 1                       # streamed, in more than one piece
    assert finish in ("length", "stop")
    assert usage.completion_tokens <= 8


def test_answers_without_images(client, answer_server):
    answer, finish, usage, _ = stream(client, answer_server, [])
    assert answer and finish in ("length", "stop")


def test_every_image_reaches_the_model(client, answer_server):
    # Each image adds its tokens to the prompt (the server reports usage on its last chunk, unasked) ...
    counts = [stream(client, answer_server, [noise(i) for i in range(n)])[2].prompt_tokens for n in (0, 1, 2)]
    assert counts[1] - counts[0] == counts[2] - counts[1] == TOKENS_PER_IMAGE
    # ... and its pixels change the (greedy, deterministic) answer.
    black, white = np.zeros((32, 32, 3), np.uint8), np.full((32, 32, 3), 255, np.uint8)
    assert stream(client, answer_server, [black])[0] != stream(client, answer_server, [white])[0]
    assert stream(client, answer_server, [black])[0] == stream(client, answer_server, [black])[0]


def test_a_broken_image_is_a_server_error(answer_server):
    client = openai.OpenAI(base_url=answer_server.base_url, api_key="unused", timeout=30, max_retries=0)
    broken = [{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,bm90IGFuIGltYWdl"}},
              {"type": "text", "text": "hi"}]
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=answer_server.model, messages=[{"role": "user", "content": broken}],
                                       max_tokens=8)


def test_the_server_is_pinned_to_its_model(answer_server):
    client = openai.OpenAI(base_url=answer_server.base_url, api_key="unused", timeout=30, max_retries=0)
    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}], max_tokens=8)
    assert "pinned" in error.value.body["detail"]     # FastAPI's {"detail": ...}, not OpenAI's {"error": ...}

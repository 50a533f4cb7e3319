"""Item 12 (issue 13): answers from an answer server, one Vigil process against a real OpenAI-compatible server
(`transformers serve` with the tiny random LLaVA, models.served, on this machine's same cores).

- Bytes per question: what each question sends (its keyframes as base64 JPEGs in JSON), at the frame budget.
- Vigil's side of a question: seconds from the question to a request ready to send (embedding the question,
  selection, reading the clips and their keyframes, building the request), with no server in it, measured with the
  tiny embedder, plus what SigLIP-base's real text tower takes to embed a question; one core's ceiling is the
  inverse of their sum.
- Requests per second sustained: `concurrency` threads each asking one question after another for `seconds`, every
  answer read to its end; errors counted. The server shares the machine, so this is a floor for Vigil, not a ceiling.
"""
import statistics
import threading
import time
from pathlib import Path

QUESTIONS = ("What happened?", "Did someone come in?", "What is on the table?", "Who left the room?",
             "Is anyone there now?", "What changed in the last minute?", "How many people came by?",
             "What was the person wearing?")


def serving(engine_config, llm, embedder, path: str, workdir: Path, max_frames: int, concurrency: tuple[int, ...],
            seconds: float, log=print) -> dict:
    """`llm`/`embedder`: the tiny models (the memory is built with them; the server only reads its keyframes)."""
    from dataclasses import replace

    from models.config import ServerConfig
    from models.remote import ServerAnswerer
    from models.served import build_tiny_served_vlm, start_server
    from models.tiny import TINY_VERSION
    from stream.engine import Engine
    from stream.sources import FileSource

    folder = build_tiny_served_vlm(workdir / f"tiny-served-vlm-v{TINY_VERSION}")
    server = start_server(folder, log=workdir / "answer-server.log")
    try:
        config = ServerConfig(url=server.base_url, model=server.model, max_frames=max_frames)
        answerer = ServerAnswerer(config, engine_config.model.max_new_tokens, random_weights=True)
        engine = Engine(replace(engine_config, server=config), llm=llm, embedder=embedder, answerer=answerer)
        session = engine.open(str(workdir / "memory"), stream="bench")
        log("   ingesting the clip ...")
        for _ in session.run(FileSource(path, 1.0).frames()):
            pass
        sizes, prepare = [], []
        for q in QUESTIONS:                      # Vigil's side alone: the request is built, nothing is sent
            t0 = time.perf_counter()
            answer = session.ask(q, policy="memory")
            prepare.append(time.perf_counter() - t0)
            answer.pieces.close()
            sizes.append((answer.request.frames, answer.request.bytes))
        runs = []
        for c in concurrency:
            log(f"   {c} concurrent question loops for {seconds:g} s ...")
            runs.append(_sustained(session, c, seconds))
        session.close()
    finally:
        server.stop()
    return {"max_frames": max_frames, "questions": len(QUESTIONS), "clip": Path(path).name,
            "frames": statistics.median(f for f, _ in sizes),
            "kb_mean": round(statistics.mean(b for _, b in sizes) / 1024, 1),
            "kb_max": round(max(b for _, b in sizes) / 1024, 1),
            "prepare_ms": round(statistics.median(prepare) * 1000, 1), "text_embed_ms": text_embed_ms(), "runs": runs}


def text_embed_ms(rounds: int = 20, seed: int = 0) -> float:
    """Median ms to embed one question with SigLIP-base's text tower (its shape, random weights, 64 tokens as
    SigLIP pads to): what a real embedder adds to Vigil's side of a question, which the tiny one leaves out."""
    import torch
    from transformers import SiglipTextConfig, SiglipTextModel

    torch.manual_seed(seed)
    model = SiglipTextModel(SiglipTextConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                                             intermediate_size=3072, max_position_embeddings=64)).eval()
    ids = torch.randint(0, model.config.vocab_size, (1, 64))
    times = []
    with torch.inference_mode():
        for i in range(rounds + 2):
            t0 = time.perf_counter()
            model(input_ids=ids)
            if i >= 2:                          # the first calls allocate
                times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1000, 1)


def _sustained(session, concurrency: int, seconds: float) -> dict:
    done, errors, latencies = [], [], []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def loop(k: int):
        i = k
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            try:
                session.ask(QUESTIONS[i % len(QUESTIONS)], policy="memory").text()
                with lock:
                    done.append(1)
                    latencies.append(time.perf_counter() - t0)
            except Exception as e:  # counted, not raised: a sustained rate says how many failed
                with lock:
                    errors.append(type(e).__name__)
            i += 1
    t0 = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"concurrency": concurrency, "answers": len(done), "errors": len(errors),
            "per_s": round(len(done) / wall, 2), "median_s": round(statistics.median(latencies), 3) if latencies else None}

"""Model backends: the video LLM (vision tower + language model) and the clip/question embedder."""

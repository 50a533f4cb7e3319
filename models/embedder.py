"""Text-image embedder for clip keys and questions: SigLIP through transformers."""
import numpy as np
import torch


class SiglipEmbedder:
    def __init__(self, path: str, device: torch.device, dtype: torch.dtype, random_weights: bool = False):
        from transformers import AutoTokenizer, SiglipModel
        from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

        self.model = SiglipModel.from_pretrained(path, dtype=dtype).to(device).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        # The PIL image processor: transformers' default one needs torchvision, which Vigil does not use.
        self.processor = SiglipImageProcessorPil.from_pretrained(path)
        self.device, self.dtype = device, dtype
        self.name = str(path)
        self.max_text = self.model.config.text_config.max_position_embeddings
        self.random_weights = random_weights
        self.dim = int(self.embed_texts(["probe"]).shape[1])   # the width the store and FAISS index must use

    @staticmethod
    def _pooled(out) -> torch.Tensor:
        return out.pooler_output if hasattr(out, "pooler_output") else out

    def _normalise(self, x: torch.Tensor) -> np.ndarray:
        x = torch.nn.functional.normalize(x.float(), dim=-1)
        return x.cpu().numpy().astype(np.float32)

    def embed_images(self, images: list[np.ndarray]) -> np.ndarray:
        batch = self.processor(images=list(images), return_tensors="pt")
        with torch.inference_mode():
            out = self.model.get_image_features(pixel_values=batch["pixel_values"].to(self.device, self.dtype))
        return self._normalise(self._pooled(out))

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        # SigLIP was trained on texts padded to max_length; shorter padding changes its embeddings.
        batch = self.tokenizer(list(texts), padding="max_length", max_length=self.max_text, truncation=True,
                               return_tensors="pt")
        with torch.inference_mode():
            out = self.model.get_text_features(input_ids=batch["input_ids"].to(self.device))
        return self._normalise(self._pooled(out))

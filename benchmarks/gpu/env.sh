# Source on the GPU host (Python 3.12 + torch preinstalled, no network) from the repo root:
#   GPU_DATA=.gpu/ner source benchmarks/gpu/env.sh
# Unpacks the allennlp site-packages bundle built by ../shared/tools/offline_gpu_bundle.sh
# (carried as .gpu/site/allennlp_site.tar.xz) and points the configs' extVars at the data
# carried in $GPU_DATA (default .gpu/conll: conll2003/, conll2000/, glove_*.txt.gz from
# scripts/export_glove_subset.py). See docs/GPU_RUNS.md.
set -e
mkdir -p /tmp/site
[ -d /tmp/site/site ] || tar xJf .gpu/site/allennlp_site.tar.xz -C /tmp/site
GPU_DATA=${GPU_DATA:-.gpu/conll}
export PYTHONPATH=/tmp/site/site:$PWD
export PYTHONUNBUFFERED=1
export CONLL2003_DIR=$PWD/$GPU_DATA/conll2003
export CONLL2000_DIR=$PWD/$GPU_DATA/conll2000
export GLOVE=$(ls $PWD/$GPU_DATA/glove_*.txt.gz)
export CUDA_DEVICE=0
set +e

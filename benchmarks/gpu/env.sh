# Source on the GPU host (Python 3.12 + torch preinstalled, no network) from the repo root:
#   source benchmarks/gpu/env.sh
# Unpacks the allennlp site-packages bundle built by ../shared/tools/offline_gpu_bundle.sh
# (carried in the git-ignored .gpu/ folder with the data the runs need) and points the
# configs' extVars at the carried copies.
set -e
mkdir -p /tmp/site
[ -d /tmp/site/site ] || tar xJf .gpu/site/allennlp_site.tar.xz -C /tmp/site
export PYTHONPATH=/tmp/site/site:$PWD
export PYTHONUNBUFFERED=1
export CONLL2003_DIR=$PWD/.gpu/conll/conll2003
export CONLL2000_DIR=$PWD/.gpu/conll/conll2000
export GLOVE=$PWD/.gpu/conll/glove_conll_subset.txt.gz
export CUDA_DEVICE=0
set +e

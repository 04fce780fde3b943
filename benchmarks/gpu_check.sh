#!/usr/bin/env bash
# The GPU check of notebook 80: Trainer against the prodtags loop (BERT-base shape, bf16), the data-parallel entry
# point on NCCL (world size 1), and the pretrained tagger (e5-ner) in the `gpu` profile, in under 6 minutes on one
# H100/H200. It needs only what such a machine has: torch, transformers, accelerate; no network, no nbdev, no Jupyter.
#
#   bash benchmarks/gpu_check.sh --prepare   # here, with the data and the converted encoder: writes gpu_bundle/
#                                            # (Taobao titles + a bfloat16 copy of the trimmed encoder, < 64 MiB)
#   bash benchmarks/gpu_check.sh             # there, from the repository root, with gpu_bundle/ carried over
#   DRY_RUN=1 bash benchmarks/gpu_check.sh   # the same commands, tiny, on CPU: checks the plumbing, not the GPU
#
# Figures go to results/performance/ as results records carrying the device's name; a log to gpu_check.log.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
BUNDLE=${BUNDLE:-gpu_bundle}
ENCODER=multilingual-e5-small-trimmed

if [[ "${1:-}" == "--prepare" ]]; then
  PYTHONPATH=$PWD $PY - "$BUNDLE" <<'PYEOF'
import shutil, sys
from pathlib import Path
import torch
from safetensors.torch import load_file, save_file
from prodtags.data import data_path
from prodtags.encoders import trimmed_encoder_path
bundle = Path(sys.argv[1]); data = bundle / "data" / "taobao_ner"; data.mkdir(parents=True, exist_ok=True)
for split in ("train", "dev", "test"): shutil.copy(data_path(f"taobao_ner/{split}.txt"), data / f"{split}.txt")
src = Path(trimmed_encoder_path()); enc = bundle / "encoder"; enc.mkdir(exist_ok=True)
for f in src.iterdir():
    if f.name != "model.safetensors": shutil.copy(f, enc / f.name)
save_file({k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in load_file(str(src / "model.safetensors")).items()},
          str(enc / "model.bf16.safetensors"))
size = sum(f.stat().st_size for f in bundle.rglob("*") if f.is_file())
print(f"{bundle}: {size / 2**20:.1f} MiB")
PYEOF
  exit 0
fi

export PRODTAGS_DATA=$PWD/$BUNDLE/data PRODTAGS_CACHE=$PWD/$BUNDLE/cache PRODTAGS_PROGRESS=0 PYTHONPATH=$PWD
OUT=${OUT:-results/performance}
if [[ -n "${DRY_RUN:-}" ]]; then
  DEV=cpu; PROFILE=smoke; TVL=(--device cpu --titles 64 --batch-sizes 16); export OMP_NUM_THREADS=1
  OUT=${OUT_DRY:-/tmp/gpu_check_dry}
else
  DEV=cuda; PROFILE=gpu; TVL=(--device cuda --titles 2048 --batch-sizes 64 256 --compile)
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
exec > >(tee gpu_check.log) 2>&1
date -u
# The encoder travels as bfloat16 (half the bytes); training starts from float32 weights, as on the CPU machine.
$PY - "$BUNDLE" "$ENCODER" <<'PYEOF'
import shutil, sys
from pathlib import Path
import torch
from safetensors.torch import load_file, save_file
bundle, name = Path(sys.argv[1]), sys.argv[2]
dst = bundle / "cache" / "encoders" / name; dst.mkdir(parents=True, exist_ok=True)
for f in (bundle / "encoder").iterdir():
    if f.name != "model.bf16.safetensors": shutil.copy(f, dst / f.name)
save_file({k: v.float() if v.is_floating_point() else v for k, v in load_file(str(bundle / "encoder" / "model.bf16.safetensors")).items()},
          str(dst / "model.safetensors"), metadata={"format": "pt"})
print("encoder restored to float32 in the cache")
PYEOF
$PY -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, 'cuda', torch.cuda.is_available())"
# 1. Trainer against the prodtags loop: sequences/s, useful tokens/s, peak memory, MFU against a measured bf16 matmul peak.
timeout 180 $PY benchmarks/trainer_vs_loop.py "${TVL[@]}" --out "$OUT" || echo "trainer_vs_loop: exit $?"
# 2. The data-parallel entry point on NCCL (world size 1) training the pretrained tagger in the gpu profile.
timeout 200 $PY -m prodtags.distributed e5-ner --nproc 1 --profile "$PROFILE" --out runs/gpu-check-e5 --no-resume \
  --results-dir "$OUT" || echo "distributed e5-ner: exit $?"
date -u

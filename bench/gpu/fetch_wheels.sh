#!/usr/bin/env bash
# Download into .whl/ (repository root, git-ignored) the 28 wheels that the CUDA test image lacks
# for chainswarm: hivemind and its dependencies, pydantic (shared/reference/gpu-notes.md), and
# pytest for the CUDA-only tests run.sh runs first.
# Run here, on a machine that reaches PyPI; `run` carries .whl to the device (bench/gpu/README.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=.whl
mkdir -p "$dest"

# Binary wheels for CPython 3.12 on x86-64 Linux (the image's Python).
binary=(
  blake3==1.0.11 cffi==2.1.1 cryptography==50.0.2 grpcio-tools==1.85.1 mmh3==5.3.1
  protobuf==7.36.2 pydantic==2.14.4 pydantic-core==2.50.5 typing-extensions==4.16.0
  hivemind==1.1.12
)
# Pure-Python ones (some exist on PyPI as sdists only, so pip builds the wheel).
pure=(
  annotated-types==0.8.0 base58==2.1.1 configargparse==1.9.0 morphys==1.0 netaddr==1.3.0
  prefetch-generator==1.0.3 py-cid==0.5.0 py-multibase==2.0.0 py-multicodec==1.0.0
  py-multihash==3.0.0 pycparser==3.12 python-baseconv==1.2.2 six==1.17.0
  typing-inspection==0.4.5 varint==1.0.2 pytest==9.2.0 pluggy==1.7.0 iniconfig==2.3.1
)
platforms=()
for p in manylinux2014_x86_64 manylinux_2_17_x86_64 manylinux_2_27_x86_64 manylinux_2_28_x86_64 \
         manylinux_2_34_x86_64 manylinux1_x86_64 manylinux_2_5_x86_64; do
  platforms+=(--platform "$p")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d "$dest" "${binary[@]}"
python3 -m pip wheel -q --no-deps -w "$dest" "${pure[@]}"

count=$(ls "$dest"/*.whl | wc -l)
echo "$count wheels in $dest ($(du -sh "$dest" | cut -f1)):"
ls "$dest"
if [ "$count" -ne 28 ]; then
  echo "expected 28 wheels (one version of each); remove stale ones from $dest" >&2
  exit 1
fi

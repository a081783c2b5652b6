#!/usr/bin/env bash
# Build the folder that benchmarks/gpu_check.py needs on a bare GPU machine (Python 3.12 with torch,
# onnx, onnxruntime, OpenCV, but without reidcam's other dependencies and without internet):
# reidcam's sources, the two ONNX models, the sample media, and the missing packages as wheels.
#
#   REIDCAM_WEIGHTS_DIR=... REIDCAM_MEDIA_DIR=... benchmarks/gpu_prepare.sh DEST
#
# DEST must be a folder that travels to the GPU machine (ignored by git; about 32 MB). Then, there,
# from DEST's parent (OUT: a folder for the results):
#
#   cd DEST && python3 -m pip install -q --no-index --no-deps --target /tmp/site whl/*.whl &&
#   PYTHONPATH=$PWD/src:/tmp/site REIDCAM_WEIGHTS_DIR=$PWD/weights REIDCAM_MEDIA_DIR=$PWD/media \
#   YOLO_AUTOINSTALL=false YOLO_OFFLINE=1 python3 bench/gpu_check.py --device cuda --out $OUT
#
# With onnxruntime-gpu installed there instead of the CPU wheel, the same command measures ONNX
# Runtime's CUDA provider (the document records which runtime ran).
set -euo pipefail
dest=${1:?usage: gpu_prepare.sh DEST}
here=$(cd "$(dirname "$0")/.." && pwd)
: "${REIDCAM_WEIGHTS_DIR:?set REIDCAM_WEIGHTS_DIR}" "${REIDCAM_MEDIA_DIR:?set REIDCAM_MEDIA_DIR}"
python=${PYTHON:-python3}

rm -rf "$dest/src" "$dest/bench" "$dest/weights" "$dest/media"
mkdir -p "$dest/whl" "$dest/bench" "$dest/weights" "$dest/media"
cp -r "$here/src" "$dest/src"
find "$dest/src" -name __pycache__ -prune -exec rm -rf {} +
cp "$here/benchmarks/gpu_check.py" "$dest/bench/"
cp "$REIDCAM_WEIGHTS_DIR/yolox_nano.onnx" "$REIDCAM_WEIGHTS_DIR/osnet_x0_25_msmt17.onnx" "$dest/weights/"
for m in market1501_2cam MOT17-mini vtest.avi people-detection.264 bus.jpg zidane.jpg; do
  cp -r "$REIDCAM_MEDIA_DIR/$m" "$dest/media/"
done
chmod -R u+w "$dest"
# reidcam's imports on the bench/check path that the GPU image lacks (Python 3.12, x86-64).
"$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux1_x86_64 -d "$dest/whl" \
  pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 \
  typing_extensions==4.16.0 platformdirs==4.14.9 lap==0.5.13 ultralytics==8.4.190 onnx2torch==1.5.15
du -sh "$dest"

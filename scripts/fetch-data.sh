#!/usr/bin/env bash
# Install Fashion-MNIST (Zalando Research, MIT licence) from Debian's archive. The IDX files land
# in /usr/share/datasets/fashion-mnist/, where `gradflow vanishing` finds them.
set -euo pipefail
dir=/usr/share/datasets/fashion-mnist
if [ -f "$dir/train-images-idx3-ubyte.gz" ]; then
    echo "Fashion-MNIST already installed in $dir"
    exit 0
fi
sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq dataset-fashion-mnist
ls -l "$dir"

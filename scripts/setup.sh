#!/usr/bin/env bash
# Sets up glip-bench on a fresh Debian machine with Node/npm: a pinned Deno from the npm
# registry, Mesa's software Vulkan driver (lavapipe, so WebGPU runs without a GPU), Chromium
# (report tests), and the npm dependencies pinned in deno.json. Safe to run again: it skips
# what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

DENO_VERSION=2.9.6
APT_PACKAGES=(mesa-vulkan-drivers chromium time)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

current_deno=""
if command -v deno >/dev/null 2>&1; then
  current_deno=$(deno --version | head -n 1 | awk '{print $2}')
fi
if [ "$current_deno" != "$DENO_VERSION" ]; then
  echo "setup: installing deno $DENO_VERSION from the npm registry" >&2
  as_root npm install --global --no-audit --no-fund "deno@$DENO_VERSION" >&2
fi

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]} with apt" >&2
  as_root apt-get update -q >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}" >&2
fi

# npm packages pinned in deno.json, into ./node_modules (lifecycle scripts stay off: the
# onnxruntime-node postinstall would try to download CUDA libraries from NuGet).
deno install --quiet >&2
echo "setup: ready (deno $(deno --version | head -n 1 | awk '{print $2}'))" >&2

#!/usr/bin/env bash
# Install a software Vulkan adapter (Mesa lavapipe/llvmpipe) so that Dawn (the `webgpu` npm package)
# finds a WebGPU adapter on a machine without a GPU. Idempotent; run as root on Debian bookworm.
# Does nothing when Dawn already reports an adapter (a real GPU, or this script ran before).
#
# Why backports: bookworm's own Mesa 22.3 lavapipe is refused by Dawn
# ("shaderUniform*ArrayDynamicIndexing required"); Mesa 25 from bookworm-backports works.
set -euo pipefail
cd "$(dirname "$0")/.."

probe() {
  # Prints the adapter description and exits 0 when Dawn finds an adapter; exits 1 otherwise.
  [ -d node_modules/webgpu ] || return 1
  node --input-type=module -e '
    const { create, globals } = await import("webgpu");
    Object.assign(globalThis, globals);
    const a = await create([]).requestAdapter();
    if (!a) process.exit(1);
    const i = a.info ?? {};
    console.log(`webgpu adapter: ${i.vendor} ${i.architecture} ${i.description ?? ""}${a.isFallbackAdapter ? " (fallback)" : ""}`);
    process.exit(0);
  ' 2>/dev/null
}

if probe; then
  exit 0
fi
if [ ! -d node_modules/webgpu ] && ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json >/dev/null 2>&1 \
   && dpkg --compare-versions "$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || echo 0)" ge 24; then
  echo "setup-webgpu: a Vulkan driver is installed (node_modules/webgpu absent, so Dawn was not asked)"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "setup-webgpu: no WebGPU adapter found and not root; rerun as root (sudo bash scripts/setup-webgpu.sh)" >&2
  exit 2
fi
. /etc/os-release
if [ "${VERSION_CODENAME:-}" != bookworm ]; then
  echo "setup-webgpu: written for Debian bookworm, found '${VERSION_CODENAME:-unknown}'; install Mesa >= 24 (mesa-vulkan-drivers) by hand" >&2
  exit 2
fi

src=/etc/apt/sources.list.d/backports.sources
if [ ! -f "$src" ]; then
  # Same mirror and keyring as the system's own bookworm source.
  mirror=http://deb.debian.org/debian
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    m=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    k=$(awk '/^Signed-By:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    [ -n "$m" ] && mirror=$m
    [ -n "$k" ] && keyring=$k
  fi
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' "$mirror" "$keyring" >"$src"
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 vulkan-tools >/dev/null

if [ -d node_modules/webgpu ]; then
  if ! probe; then
    echo "setup-webgpu: Mesa installed but Dawn still finds no adapter; check 'vulkaninfo --summary'" >&2
    exit 1
  fi
else
  echo "setup-webgpu: installed $(dpkg-query -W -f='mesa-vulkan-drivers ${Version}' mesa-vulkan-drivers)"
fi

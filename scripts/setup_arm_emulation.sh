#!/usr/bin/env bash
# Build, once, an aarch64 Python 3.11 userland with numpy + onnxruntime that runs under QEMU user mode,
# so the edgecnn agent can execute real ARM code on an x86 machine (see docs/agent.md).
#
#   scripts/setup_arm_emulation.sh            -> prints the cache directory when ready
#
# Environment: EDGECNN_ARM_CACHE (default ~/.cache/edgecnn/arm), EDGECNN_QEMU_CPU (neoverse-n1 | cortex-a72),
# PYTHON (the host interpreter whose pip downloads the aarch64 wheels; default python3).
# Exit codes: 0 ready, 3 QEMU cannot be installed here (callers skip), anything else a real failure.
set -euo pipefail

CACHE=${EDGECNN_ARM_CACHE:-$HOME/.cache/edgecnn/arm}
CPU=${EDGECNN_QEMU_CPU:-neoverse-n1}
PY=${PYTHON:-python3}
PACKAGES=(python3.11-minimal libpython3.11-stdlib libstdc++6 libgomp1)
ROOT=$CACHE/root-$CPU

log() { echo "[setup_arm_emulation] $*" >&2; }

# pin the wheels to the host's versions so x86 and aarch64 outputs come from the same release
host_version() { "$PY" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null || true; }
NUMPY=$(host_version numpy); ORT=$(host_version onnxruntime)
STAMP=$ROOT/.edgecnn-ready-numpy${NUMPY:-any}-ort${ORT:-any}

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9  # two test sessions building at once would clobber each other

if ! command -v qemu-aarch64-static >/dev/null 2>&1; then
  log "installing qemu-user-static"
  if [ "$(id -u)" = 0 ]; then SUDO=(); elif sudo -n true 2>/dev/null; then SUDO=(sudo -n); else
    log "qemu-aarch64-static is missing and apt-get needs root (no passwordless sudo)"; exit 3; fi
  if ! command -v apt-get >/dev/null 2>&1; then log "qemu-aarch64-static is missing and there is no apt-get"; exit 3; fi
  if ! { "${SUDO[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends qemu-user-static; } >&2; then
    log "apt-get could not install qemu-user-static"; exit 3
  fi
fi

if [ -f "$STAMP" ]; then echo "$CACHE"; exit 0; fi

WORK=$(mktemp -d "$CACHE/.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
BUILD=$WORK/root

log "downloading arm64 Debian packages for ${PACKAGES[*]}"
APT=$WORK/apt
mkdir -p "$APT/state/lists/partial" "$APT/cache/archives/partial"
: > "$APT/status"  # empty dpkg status: apt resolves the whole dependency closure, libc included
APT_OPTS=(-o Dir::State="$APT/state" -o Dir::State::status="$APT/status" -o Dir::Cache="$APT/cache"
          -o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o Debug::NoLocking=1
          -o APT::Sandbox::User=root -o Acquire::Languages=none)
apt-get "${APT_OPTS[@]}" update -qq >&2
apt-get "${APT_OPTS[@]}" install -y -qq --download-only --no-install-recommends "${PACKAGES[@]}" >&2

log "unpacking $(ls "$APT/cache/archives"/*.deb | wc -l) packages"
mkdir -p "$BUILD/usr/bin" "$BUILD/usr/sbin" "$BUILD/usr/lib" "$BUILD/proc" "$BUILD/tmp"
ln -s usr/bin "$BUILD/bin"; ln -s usr/sbin "$BUILD/sbin"; ln -s usr/lib "$BUILD/lib"
for deb in "$APT/cache/archives"/*.deb; do
  # plain `dpkg-deb -x` replaces the lib -> usr/lib link with a directory and the loader is then not found
  dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$BUILD"
done

log "downloading aarch64 wheels: numpy ${NUMPY:-latest}, onnxruntime ${ORT:-latest}"
AARCH64=(--only-binary=:all: --platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64
         --platform manylinux2014_aarch64 --python-version 3.11 --implementation cp --abi cp311)
"$PY" -m pip download -q --disable-pip-version-check "${AARCH64[@]}" -d "$WORK/wheels" \
  "numpy${NUMPY:+==$NUMPY}" "onnxruntime${ORT:+==$ORT}" protobuf flatbuffers packaging >&2
"$PY" -m pip install -q --disable-pip-version-check "${AARCH64[@]}" --no-index --no-deps \
  --target "$BUILD/site" "$WORK/wheels"/*.whl >&2

# QEMU 7 passes the host's x86 /proc/cpuinfo through and onnxruntime's CPU detection crashes on it;
# QEMU's -L prefix makes the guest read this file instead. It must match the emulated CPU: claiming
# dot-product (asimddp) on a cortex-a72 kills int8 models with "Illegal instruction".
case "$CPU" in
  neoverse-n1) FEATURES="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs"
               PART=0xd0c; VARIANT=0x3; REVISION=1 ;;
  cortex-a72)  FEATURES="fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid"
               PART=0xd08; VARIANT=0x0; REVISION=3 ;;
  *) log "unsupported EDGECNN_QEMU_CPU=$CPU (use neoverse-n1 or cortex-a72)"; exit 2 ;;
esac
for i in 0 1; do
  printf 'processor\t: %s\nBogoMIPS\t: 50.00\nFeatures\t: %s\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %s\n\n' \
    "$i" "$FEATURES" "$VARIANT" "$PART" "$REVISION"
done > "$BUILD/proc/cpuinfo"

log "checking the userland"
QEMU_CPU=$CPU qemu-aarch64-static -L "$BUILD" "$BUILD/usr/bin/python3.11" -I -c \
  "import sys; sys.path.insert(0, '$BUILD/site'); import platform, numpy, onnxruntime; print(platform.machine(), numpy.__version__, onnxruntime.__version__)" >&2

rm -rf "$ROOT"
mv "$BUILD" "$ROOT"
touch "$STAMP"
log "ready: $ROOT"
echo "$CACHE"

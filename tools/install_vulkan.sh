#!/usr/bin/env bash
# Installs a Vulkan driver SAPIEN (ManiSkill3's simulator) accepts on a machine without a GPU:
# Mesa 25's lavapipe (CPU Vulkan) from Debian bookworm-backports, with the matching libdrm.
#
# SAPIEN needs a Vulkan device even for state-only simulation, and Debian 12's own Mesa 22.3
# lavapipe is rejected (it lacks descriptorBindingPartiallyBound). Mesa 25.x works; tools/env.sh
# then points VK_ICD_FILENAMES at its lvp ICD.
#
# Idempotent: does nothing when Mesa >= 25 lavapipe is installed or an NVIDIA Vulkan ICD exists.
# Never fatal: without root or apt it says what to run and returns 0, since everything outside
# fpo_sim works without Vulkan (the simulator's tests then skip, naming the reason).
#
# Environment: SKIP_VULKAN=1 skips this step.
set -uo pipefail

say() { printf '[setup] %s\n' "$*"; }
warn() { printf '[setup] warning: %s\n' "$*" >&2; }

min_major=25
apt_line='deb http://deb.debian.org/debian bookworm-backports main'
packages=(mesa-vulkan-drivers libdrm2 libdrm-amdgpu1)
install_cmd="apt-get install -y -t bookworm-backports ${packages[*]}"

if [ "${SKIP_VULKAN:-0}" = 1 ]; then
    say "SKIP_VULKAN=1: not installing the Vulkan driver for the simulator"
    exit 0
fi

installed_mesa() { dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true; }
mesa_ok() {
    local v
    v="$(installed_mesa)"
    [ -n "$v" ] && [ "${v%%.*}" -ge "$min_major" ] 2>/dev/null
}

if mesa_ok; then
    say "Vulkan for the simulator: Mesa $(installed_mesa) lavapipe already installed"
    exit 0
fi
for icd in /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$icd" ]; then
        say "Vulkan for the simulator: NVIDIA driver found ($icd), not installing lavapipe"
        exit 0
    fi
done

manual() {
    warn "the simulator (fpo_sim, ManiSkill3/SAPIEN) needs Vulkan and none usable was found ($1)."
    warn "On Debian 12 (bookworm) run as root:"
    warn "  echo '$apt_line' > /etc/apt/sources.list.d/bookworm-backports.list"
    warn "  apt-get update && $install_cmd"
    warn "Elsewhere install Mesa >= $min_major lavapipe (package mesa-vulkan-drivers) or an NVIDIA driver."
    warn "Continuing: everything else works; the simulator's tests skip until then."
    exit 0
}

command -v apt-get >/dev/null || manual "no apt-get on this system"
codename="$(. /etc/os-release 2>/dev/null && printf '%s' "${VERSION_CODENAME:-}")"
[ "$codename" = bookworm ] || manual "this is not Debian bookworm (VERSION_CODENAME='$codename')"
[ "$(id -u)" = 0 ] || manual "not root"

say "installing Mesa $min_major lavapipe from bookworm-backports (${packages[*]})"
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    printf '%s\n' "$apt_line" >/etc/apt/sources.list.d/bookworm-backports.list
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || manual "apt-get update failed"
# shellcheck disable=SC2086
apt-get install -y -qq -t bookworm-backports "${packages[@]}" >/dev/null || manual "$install_cmd failed"
mesa_ok || manual "Mesa $(installed_mesa) installed, but $min_major or newer is needed"
say "Vulkan for the simulator: Mesa $(installed_mesa) lavapipe installed"

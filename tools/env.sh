# Source this file (bash) to use the workspace built by `make setup`:
#   source tools/env.sh
# It activates .venv and sources install/setup.bash. Nothing here overrides a variable you set.
_fpo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "$_fpo_root/.venv/bin/activate"
# shellcheck disable=SC1091
source "$_fpo_root/install/setup.bash"
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
# fpo-train and fpo-eval (colcon installs console scripts under lib/<pkg>, as `ros2 run` expects).
case ":$PATH:" in *":$_fpo_root/install/fpo_policy/lib/fpo_policy:"*) ;;
    *) export PATH="$_fpo_root/install/fpo_policy/lib/fpo_policy:$PATH" ;; esac
# The simulator (SAPIEN) needs Vulkan: on machines without a GPU, Mesa's lavapipe (see
# tools/install_vulkan.sh), and a runtime directory for its caches.
if [ -z "${VK_ICD_FILENAMES:-}" ] && [ -f /usr/share/vulkan/icd.d/lvp_icd.json ] \
    && [ ! -f /usr/share/vulkan/icd.d/nvidia_icd.json ]; then
    export VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.json
fi
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
    export XDG_RUNTIME_DIR="/tmp/runtime-$(id -u)"
    mkdir -p -m 700 "$XDG_RUNTIME_DIR"
fi
unset _fpo_root

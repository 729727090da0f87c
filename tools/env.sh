# Source this file (bash) to use the workspace built by `make setup`:
#   source tools/env.sh
# It activates .venv and sources install/setup.bash. Nothing here overrides a variable you set.
_fpo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "$_fpo_root/.venv/bin/activate"
# shellcheck disable=SC1091
source "$_fpo_root/install/setup.bash"
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
unset _fpo_root

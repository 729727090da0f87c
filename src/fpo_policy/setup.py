import os
from glob import glob

from setuptools import find_packages, setup

package_name = "fpo_policy"
# The workspace-level launch/ folder is installed here, so that
# `ros2 launch fpo_policy <file>.launch.py` finds it after a colcon build.
workspace_launch = os.path.join("..", "..", "launch")

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    package_data={"fpo_policy.core": ["hyperparameters.yaml"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/config", glob("config/*.yaml") + glob("config/*.rviz")),
        ("share/" + package_name + "/checkpoints", glob("checkpoints/*")),
        ("share/" + package_name + "/launch", glob(os.path.join(workspace_launch, "*.launch.py"))),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="FPO SO-100 maintainers",
    maintainer_email="maintainers@fpo-so100.org",
    description="See package.xml.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "fpo-train = fpo_policy.cli:train_main",
            "fpo-eval = fpo_policy.cli:eval_main",
            "policy_node = fpo_policy.policy_node:main",
            "trainer_node = fpo_policy.trainer_node:main",
            "fpo-bringup = fpo_policy.bringup_runner:main",
        ]
    },
)

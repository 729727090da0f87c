from glob import glob

from setuptools import find_packages, setup

package_name = "so100_driver"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/config", glob("config/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="FPO SO-100 maintainers",
    maintainer_email="maintainers@fpo-so100.org",
    description="See package.xml.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "driver_node = so100_driver.driver_node:main",
            "so100_emulator = so100_driver.core.emulator:main",
            "so100_calibrate = so100_driver.core.calibration:main",
        ]
    },
)

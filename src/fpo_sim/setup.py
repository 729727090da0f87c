from glob import glob

from setuptools import find_packages, setup

package_name = "fpo_sim"

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
    entry_points={"console_scripts": ["sim_node = fpo_sim.sim_node:main"]},
)

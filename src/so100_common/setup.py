from glob import glob

from setuptools import find_packages, setup

package_name = "so100_common"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/description", ["description/LICENSE", "description/README.md"]),
        ("share/" + package_name + "/description/urdf", glob("description/urdf/*.urdf")),
        ("share/" + package_name + "/description/meshes", glob("description/meshes/*")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="FPO SO-100 maintainers",
    maintainer_email="maintainers@fpo-so100.org",
    description="See package.xml.",
    license="Apache-2.0",
)

"""Turns the bringup declarations of :mod:`fpo_policy.bringup` into ROS 2 launch actions.

Used by the launch files in ``launch/``; needs ``launch`` and ``launch_ros`` (a ROS 2 distro).
"""

from __future__ import annotations

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from fpo_policy.bringup import BRINGUPS, RVIZ_CONFIG, URDF, BringupArgs


def generate(bringup: str, arg_names: tuple[str, ...]) -> LaunchDescription:
    """A launch description that declares ``arg_names`` and starts the ``bringup``'s nodes."""
    declared = [
        DeclareLaunchArgument(
            name, default_value=BringupArgs.default_string(name), description=BringupArgs.description(name)
        )
        for name in arg_names
    ]
    return LaunchDescription([*declared, OpaqueFunction(function=_actions, args=[bringup, arg_names])])


def _actions(context, bringup: str, arg_names: tuple[str, ...]) -> list:
    args = BringupArgs.from_strings({n: LaunchConfiguration(n).perform(context) for n in arg_names})
    actions = [
        Node(
            package=spec.package,
            executable=spec.executable,
            name=spec.name,
            namespace=spec.full_namespace(args.namespace),
            parameters=[str(f.resolve()) for f in spec.params_files] + [spec.parameters],
            remappings=list(spec.remappings),
            output="screen",
        )
        for spec in BRINGUPS[bringup](args)
    ]
    ns = args.namespace.strip("/")
    if "robot_state_publisher" in arg_names and args.robot_state_publisher:
        actions.append(
            Node(
                package="robot_state_publisher",
                executable="robot_state_publisher",
                namespace=ns,
                parameters=[
                    {"robot_description": URDF.resolve().read_text(), "use_sim_time": args.use_sim_time}
                ],
                output="screen",
            )
        )
    if "rviz" in arg_names and args.rviz:
        actions.append(
            Node(
                package="rviz2",
                executable="rviz2",
                namespace=ns,
                arguments=["-d", str(RVIZ_CONFIG.resolve())],
                parameters=[{"use_sim_time": args.use_sim_time}],
            )
        )
    return actions

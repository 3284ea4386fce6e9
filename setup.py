"""convml_tt: unsupervised learning of cloud organisation from GOES ABI imagery."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

# The versions the library works with: lower bounds at versions the test
# suite passed with, upper bounds only where a release is known to break it.
# The exact versions CI and `make test` install are in constraints.txt.
INSTALL_REQUIRES = [
    "torch>=2.4",
    "torchvision>=0.19",
    "fastai>=2.7.17,<2.9",  # Learner/DataLoader/callback API of fastai 2.7-2.8
    "numpy>=1.26",
    "scipy>=1.11",
    "xarray>=2024.6",
    "netCDF4>=1.6.5",
    "pandas>=2.1",
    "pyproj>=3.6",
    "s3fs>=2024.6",
    "fsspec>=2024.6",
    "matplotlib>=3.8",
    "scikit-learn>=1.4",  # Isomap projection in convml_tt.interpretation.plots
    "pillow>=10.2",
    "tqdm>=4.66",
    "PyYAML>=6.0",
]

EXTRAS = {
    "test": [
        "pytest>=8.0",
        "moto[server]>=5.0",
        "boto3>=1.34",
        "nbclient>=0.10",
        "nbformat>=5.10",
        "ipykernel>=6.29",
        "satpy>=0.50",
    ],
    "bench": [
        "pyresample>=1.28",
        "satpy>=0.50",
        "moto[server]>=5.0",
        "boto3>=1.34",
    ],
}

setup(
    name="convml_tt",
    version="0.1.0",
    description=(
        "Learn cloud-organisation regimes from GOES ABI satellite imagery "
        "without labels (triplet-trained ResNet embeddings)"
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["convml_tt", "convml_tt.*"]),
    python_requires=">=3.10",
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["convml_tt=convml_tt.cli:main"]},
    license="Apache-2.0",
)

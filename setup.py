"""convml_tt: unsupervised learning of cloud organisation from GOES ABI imagery."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

# Pinned with == to the versions that install (and were tested) together on
# Python 3.11. The same install gives GPU users the CUDA build of torch.
INSTALL_REQUIRES = [
    "torch==2.14.1",
    "torchvision==0.29.1",
    "fastai==2.8.12",
    "numpy==2.4.6",
    "scipy==1.17.1",
    "xarray==2026.9.0",
    "netCDF4==1.7.5.1.post1",
    "pandas==3.1.1",
    "pyproj==3.7.2",
    "s3fs==2026.9.0",
    "fsspec==2026.9.0",
    "matplotlib==3.11.2",
    "scikit-learn==1.9.1",  # Isomap projection in convml_tt.interpretation.plots
    "pillow==13.0.0",
    "tqdm==4.70.1",
    "PyYAML==6.0.4",
]

EXTRAS = {
    "test": [
        "pytest==9.2.0",
        "moto[server]==5.2.5",
        "boto3==1.43.117",
        "nbclient==0.11.0",
        "nbformat==5.11.1",
        "ipykernel==7.4.0",
        "satpy==0.60.0",
    ],
    "bench": [
        "pyresample==1.35.0",
        "satpy==0.60.0",
        "moto[server]==5.2.5",
        "boto3==1.43.117",
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

"""convml_tt: unsupervised learning of cloud organisation from GOES ABI imagery."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

# The versions the library works with: each lower bound is a version the test
# suite passed with (xarray 2026.1 and matplotlib 3.10 were checked beside the
# pins; the others are the pins of constraints.txt, the oldest tested so far);
# upper bounds only where a release is known to break the library. The exact
# versions CI and `make test` install are in constraints.txt.
INSTALL_REQUIRES = [
    "torch>=2.14",
    "torchvision>=0.29",
    "fastai>=2.8.12,<2.9",  # the Learner/DataLoader/callback internals this library builds on
    "numpy>=2.4",
    "scipy>=1.17",
    "xarray>=2026.1",  # older xarray fails on pandas 3 string columns
    "netCDF4>=1.7.5",
    "pandas>=3.1",
    "pyproj>=3.7",
    "s3fs>=2026.9",
    "fsspec>=2026.9",
    "matplotlib>=3.10",
    "scikit-learn>=1.9",  # Isomap projection in convml_tt.interpretation.plots
    "pillow>=13.0",
    "tqdm>=4.70",
    "PyYAML>=6.0.4",
    # the 1 km GLOBE land/sea mask shipped inside the wheel (convml_tt.data.surface): no download at run time
    "global-land-mask>=1.0,<2",
    # ISA-L's deflate for the triplet PNGs: ~3.5x faster than zlib at level 1, a standard zlib stream
    # (convml_tt.data.dataset.png falls back to zlib without it)
    "isal>=1.9,<2",
]

# boto3 (for moto's S3 server in the tests and benchmarks) bounded to the
# botocore that aiobotocore accepts: s3fs needs aiobotocore, aiobotocore 3.10
# pins botocore to >=1.43.115,<1.43.118, and boto3 X.Y.Z needs botocore >= X.Y.Z.
# Unbounded, pip takes the newest boto3 (1.44) first and backtracks through
# dozens of boto3/botocore/aiobotocore versions (7-16 min, issue 25). Raise
# the upper bound with aiobotocore's (tests/test_install.py checks that
# every extra resolves quickly without constraints.txt). Written out in each
# extra (the lists stay literals, read by tests/test_packaging.py).

EXTRAS = {
    "test": [
        "pytest>=9.2",
        "moto[server]>=5.2.5",
        "boto3>=1.43.115,<1.43.118",  # the botocore aiobotocore pins (above)
        "nbclient>=0.11",
        "nbformat>=5.11",
        "ipykernel>=7.4",
        "satpy>=0.60",
        # the reference implementation of the organisation indices (tests only;
        # 0.3.0 needs np.trapz, which the tests alias to np.trapezoid)
        "cloudmetrics>=0.3.0",
        "distributed>=2026.8",
        "dask-jobqueue>=0.9",
        "zarr>=3.1",  # gridded zarr stores and ARCO-ERA5 layout tests
        # exploring embeddings (the explore extra) and driving Debian's chromium in the
        # interactive-scatter test (no browser is downloaded: the system's chromedriver is used)
        "umap-learn>=0.5.12,<0.6",
        "tensorboard>=2.21",
        "selenium>=4.51",
        "timm>=1.0.31,<2",  # the timm backbones' tests
    ],
    # exploring embeddings: the UMAP projection (convml_tt.interpretation.projections) and
    # TensorBoard (training curves: train --log tensorboard; the projector export needs no package)
    "explore": [
        "umap-learn>=0.5.12,<0.6",
        "tensorboard>=2.21",
    ],
    # the data steps on a dask.distributed cluster (convml_tt.compute), with
    # workers from SLURM/SGE/PBS through dask-jobqueue
    "cluster": [
        "distributed>=2026.8",
        "dask-jobqueue>=0.9",
    ],
    # the satpy source (convml_tt.data.sources.satpy_reader): Himawari AHI,
    # Meteosat SEVIRI/FCI and any geostationary imager satpy reads; trollsift
    # (a satpy dependency) parses file names without importing satpy
    "satpy": [
        "satpy>=0.60",
        "pyresample>=1.35",
        "trollsift>=1.0",
    ],
    # zarr stores: read by the gridded source (netCDF needs nothing more) and
    # the ARCO-ERA5 layout of environment fields (convml_tt.data.fields.era5)
    "zarr": [
        "zarr>=3.1",
        "dask>=2026.8",
    ],
    # timm's backbones (ConvNeXt, EfficientNet, ViT; convml_tt.architectures.backbones_timm)
    "timm": [
        "timm>=1.0.31,<2",
    ],
    "bench": [
        "pyresample>=1.35",
        "satpy>=0.60",
        "moto[server]>=5.2.5",
        "boto3>=1.43.115,<1.43.118",  # the botocore aiobotocore pins (above)
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

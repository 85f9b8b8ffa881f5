# The one place the version is set: pyproject.toml reads it (scikit-build-core's regex provider),
# CMake compiles it into tensorforge._C, and tensorforge.__version__ is this string.
__version__ = "0.1.0"

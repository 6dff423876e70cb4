"""The add-on's version: one place for the package, the manifests and the files a bake writes."""
__version__ = "0.1.0"

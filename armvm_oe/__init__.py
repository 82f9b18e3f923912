"""armvm-oe: build, verify and boot portable Arm VM images with Yocto.

The ARM VM System Specification requirement ids cited throughout live in
:mod:`armvm_oe.requirements`.
"""

__version__ = "0.1.0"

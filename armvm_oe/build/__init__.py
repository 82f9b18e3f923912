"""``armvm-oe build``: orchestration (:mod:`.orchestrate`), bitbake progress
parsing (:mod:`.progress`), the build report (:mod:`.report`), scale-out
settings (:mod:`.scaleout`) and the verify step (:mod:`.verifyhook`).
See docs/build.md."""

"""imgpkg_pure: the pure core of imgpkg-pure.

It owns meaning: digests, references, OCI values and their codecs, imgpkg's
documents (ImagesLock, BundleLock, ImageLocations), the canonical layer
recipe, graph queries, and planners that turn a request plus observations
into a Plan.  It performs no I/O, reads no clock, draws no random numbers and
logs nothing; the ``store`` package does all of that.
"""

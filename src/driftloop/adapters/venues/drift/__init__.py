"""The live Drift venue (`DriftVenue`), built on driftpy — an optional extra: `pip install driftloop[drift]`.

Only this package imports driftpy; import `driftloop.adapters.venues.drift.venue` lazily (bootstrap does)
so that everything else works without it.
"""

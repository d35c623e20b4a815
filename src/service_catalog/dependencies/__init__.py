"""Dependencies between catalog services: directed, labelled edges, confirmed or proposed."""
